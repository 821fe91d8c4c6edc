package inbound

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
)

// tailState is what a tailer keeps under its offset key: where it stopped,
// and what the file looked like, to notice when it was replaced.
type tailState struct {
	// Offset is the byte after the last line consumed.
	Offset int64 `json:"offset"`
	// Inode is the file's inode, 0 when unknown.
	Inode uint64 `json:"inode,omitempty"`
	// FP is the fingerprint of the file's first line, "" when the file
	// had no complete first line yet.
	FP string `json:"fp,omitempty"`
}

func (s tailState) encode() []byte {
	b, _ := json.Marshal(s)
	return b
}

func decodeTailState(b []byte) (tailState, error) {
	var s tailState
	if err := json.Unmarshal(b, &s); err != nil || s.Offset < 0 {
		return tailState{}, errors.New("the stored offset is not one a tailer wrote")
	}
	return s, nil
}

// fpBytes bounds the part of the first line a fingerprint reads.
const fpBytes = 4096

// fingerprint identifies a file by its first line (at most fpBytes of it):
// bytes that never change while the file is only appended to. It is ""
// while the first line is incomplete.
func fingerprint(f *os.File) (string, error) {
	buf := make([]byte, fpBytes)
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return "", err
	}
	buf = buf[:n]
	if i := bytes.IndexByte(buf, '\n'); i >= 0 {
		buf = buf[:i]
	} else if n < fpBytes {
		return "", nil
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:8]), nil
}

// endOfLastLine is the offset just after the last newline before size: a
// tailer that starts at the end of a file skips a partial last line whole,
// rather than reading its second half as a line.
func endOfLastLine(f *os.File, size int64) (int64, error) {
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	for end := size; end > 0; {
		start := max(end-chunk, 0)
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && err != io.EOF {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}

// lineReader reads complete lines; a line longer than max is reported as
// too long (and skipped whole) rather than held in memory.
type lineReader struct {
	r   *bufio.Reader
	max int
	buf []byte
}

// next returns the next complete line without its newline, and the bytes
// it took in the file. ok is false at the end of the complete lines: a
// partial last line is left for a later read.
func (l *lineReader) next() (line []byte, n int64, tooLong, ok bool, err error) {
	l.buf = l.buf[:0]
	for {
		frag, err := l.r.ReadSlice('\n')
		n += int64(len(frag))
		if !tooLong {
			if len(l.buf)+len(frag) > l.max+1 { // +1: the newline
				tooLong, l.buf = true, l.buf[:0]
			} else {
				l.buf = append(l.buf, frag...)
			}
		}
		switch err {
		case nil:
			return bytes.TrimSuffix(l.buf, []byte{'\n'}), n, tooLong, true, nil
		case bufio.ErrBufferFull:
			continue
		case io.EOF:
			return nil, 0, false, false, nil
		default:
			return nil, 0, false, false, err
		}
	}
}
