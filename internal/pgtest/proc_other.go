//go:build !unix

package pgtest

import (
	"fmt"
	"os/exec"
)

func setProcAttr(*exec.Cmd, *credential, bool) error {
	return fmt.Errorf("%w: pgtest starts a cluster only on unix; set %s", errUnavailable, EnvURL)
}
