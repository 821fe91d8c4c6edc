//go:build unix && !linux

package pgtest

import (
	"os/exec"
	"syscall"
)

// setProcAttr runs cmd as cred's user when cred is set. Outside Linux a
// server left by a killed test binary must be stopped by hand.
func setProcAttr(cmd *exec.Cmd, cred *credential, _ bool) error {
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: cred.uid, Gid: cred.gid, NoSetGroups: true}}
	}
	return nil
}
