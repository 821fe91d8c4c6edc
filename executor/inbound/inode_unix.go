//go:build unix

package inbound

import (
	"os"
	"syscall"
)

// inode identifies the file behind fi, so that a table replaced by a new
// file (rotated) is told apart from the same file grown; 0 when unknown.
func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
