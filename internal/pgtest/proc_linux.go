package pgtest

import (
	"os/exec"
	"syscall"
)

// setProcAttr runs cmd as cred's user when cred is set and, with
// dieWithParent, has the kernel send it SIGQUIT (immediate shutdown) when
// the test binary dies.
func setProcAttr(cmd *exec.Cmd, cred *credential, dieWithParent bool) error {
	attr := &syscall.SysProcAttr{}
	if cred != nil {
		attr.Credential = &syscall.Credential{Uid: cred.uid, Gid: cred.gid, NoSetGroups: true}
	}
	if dieWithParent {
		attr.Pdeathsig = syscall.SIGQUIT
	}
	cmd.SysProcAttr = attr
	return nil
}
