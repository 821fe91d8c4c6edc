package cli_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/heraldhq/herald/cmd/herald/internal/cli"
)

// openPTY opens a pseudo-terminal pair: what is written to master is read
// from slave, which is a terminal as far as herald can tell.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	var n uint32
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		m.Close()
		t.Skipf("TIOCGPTN: %v", e)
	}
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		m.Close()
		t.Skipf("TIOCSPTLCK: %v", e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("opening the terminal: %v", err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// TestApplyPrompt: apply without a plan file, on a terminal, shows the plan
// and asks; anything but "yes" cancels with nothing sent, "yes" applies.
// The project is the one of testdata/script/apply.txtar.
func TestApplyPrompt(t *testing.T) {
	ar, err := txtar.ParseFile(filepath.Join("testdata", "script", "apply.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range ar.Files {
		p := filepath.Join(dir, f.Name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sent := func() int {
		files, _ := filepath.Glob(filepath.Join(dir, ".herald", "outbox", "*.eml"))
		return len(files)
	}
	for _, tc := range []struct {
		answer string
		code   int
		say    string
		sent   int
	}{
		{"no", 1, "Apply cancelled.", 0},
		{"", 1, "Apply cancelled.", 0},
		{"yes", 0, "Apply complete", 4},
	} {
		master, tty := openPTY(t)
		if _, err := master.WriteString(tc.answer + "\n"); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		code := cli.Run([]string{"-chdir", dir, "apply", "-no-color", "-now=2026-11-26T12:00:00Z"}, tty, &stdout, &stderr)
		out := stdout.String()
		if code != tc.code || !strings.Contains(out, tc.say) {
			t.Fatalf("answer %q: exit %d, want %d and %q\nstdout:\n%s\nstderr:\n%s", tc.answer, code, tc.code, tc.say, out, stderr.String())
		}
		if !strings.Contains(out, "Only 'yes' will be accepted.") || !strings.Contains(out, "4 messages") {
			t.Errorf("answer %q: the question did not follow the plan:\n%s", tc.answer, out)
		}
		if n := sent(); n != tc.sent {
			t.Errorf("answer %q: %d messages in the outbox, want %d", tc.answer, n, tc.sent)
		}
	}
}
