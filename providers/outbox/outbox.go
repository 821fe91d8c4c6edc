// Package outbox is the "outbox" channel provider: instead of sending a
// message it writes it to a directory, so that a project runs end to end
// with no server at all (the quickstart's default) and a test or a
// reviewer can read exactly what would have gone out.
//
// A provider block takes dir (relative to the project; created when
// missing) and format:
//
//   - "eml", the default for e-mail: one RFC 5322 file per message,
//     DIR/KEY.eml, as smtp.BuildMessage renders it for the wire. It is
//     written to a temporary file, synced and renamed into place, so a
//     crash never leaves half a message, and a resend of the same
//     idempotency key replaces the same file.
//   - "jsonl": one JSON object per line appended to DIR/messages.jsonl
//     (record lists the fields). SMS and webhook messages are always
//     written this way, whatever the format.
//
// The journal messages.jsonl is idempotent across crashes and resumes: when
// it is opened, the keys already in it are read, and a message whose key
// is there is not written again. Send writes its record with one write
// call before it returns; SendBuffered (what herald apply uses) may hold
// records in memory until Flush, which writes them with one call, and
// apply records their outcomes only after that. A torn last line, left by
// a crash in the middle of a write, is cut off when the file is next
// opened. The file is synced every syncEvery records and on Close: after
// a power failure (not a crash of herald, which loses nothing) the last
// records before the failure may be missing although the ledger counts
// them as sent. The outbox is for development, tests and
// review; a send through it reaches no one.
//
// A process writes a journal through one handle, shared by every outbox
// channel opened on the same directory; two processes must not write one
// directory at the same time.
package outbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/providers"
	"github.com/heraldhq/herald/providers/smtp"
)

func init() { providers.RegisterChannel("outbox", Factory) }

// Factory is the providers.ChannelFactory of the outbox provider.
func Factory(ctx context.Context, req providers.ChannelRequest) (providers.Channel, error) {
	ch, err := Open(ctx, req)
	if err != nil {
		return nil, err
	}
	return ch, nil
}

// The formats.
const (
	EML   = "eml"
	JSONL = "jsonl"
)

// JournalName is the file JSONL records are appended to, in the dir.
const JournalName = "messages.jsonl"

// syncEvery is how many journal records may be written between syncs.
const syncEvery = 100

var _ providers.BufferedChannel = (*Channel)(nil)

// Channel writes messages to a directory. It is safe for concurrent use.
type Channel struct {
	name    string // provider.outbox.NAME, for errors
	dir     string // the directory, as opened
	display string // the directory as the provider block names it
	format  string // EML or JSONL: how e-mail is written
	now     func() time.Time

	mu       sync.Mutex
	closed   bool
	journal  *journal // opened on first use unless format is JSONL
	wroteEML bool
}

// Open reads the provider block of req and creates its directory. With
// format = "jsonl" it opens the journal at once, so that a journal that
// cannot be read is an error before the first send.
func Open(ctx context.Context, req providers.ChannelRequest) (*Channel, error) {
	p := req.Provider
	if p == nil {
		return nil, errors.New("outbox: channel request without a provider")
	}
	ch := &Channel{name: "provider." + p.Address(), format: EML, now: time.Now}
	dir, err := stringAttr(p, "dir")
	if err != nil {
		return nil, err
	}
	if dir == "" {
		return nil, fmt.Errorf("%s: no dir: set dir = \"outbox\" (a directory for the messages, relative to the project)", ch.name)
	}
	ch.display = dir
	ch.dir = filepath.FromSlash(dir)
	if !filepath.IsAbs(ch.dir) {
		ch.dir = filepath.Join(req.Dir, ch.dir)
	}
	format, err := stringAttr(p, "format")
	if err != nil {
		return nil, err
	}
	switch format {
	case "", EML:
	case JSONL:
		ch.format = JSONL
	default:
		return nil, fmt.Errorf("%s: format = %q: want \"eml\" or \"jsonl\"", ch.name, format)
	}
	if err := os.MkdirAll(ch.dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: creating dir %s: %w", ch.name, ch.display, err)
	}
	if ch.format == JSONL {
		if ch.journal, err = openJournal(filepath.Join(ch.dir, JournalName)); err != nil {
			return nil, fmt.Errorf("%s: %w", ch.name, err)
		}
	}
	return ch, nil
}

// Dir returns the directory the channel writes to.
func (ch *Channel) Dir() string { return ch.dir }

// Send writes m: an e-mail as an .eml file unless the format is jsonl,
// anything else as a journal record. The ProviderMessageID is the .eml
// file's name, or "outbox:KEY" for a record. A write that fails (a full
// disk) is Retry; a message that cannot be written as it is (an e-mail
// with no From) is Failed.
func (ch *Channel) Send(ctx context.Context, m *providers.Message) providers.SendResult {
	if err := ctx.Err(); err != nil {
		return providers.SendResult{Outcome: providers.Retry, Err: err}
	}
	if m == nil || m.IdempotencyKey == "" {
		return providers.SendResult{Outcome: providers.Failed, Err: errors.New("outbox: a message without an idempotency key")}
	}
	ch.mu.Lock()
	closed := ch.closed
	ch.mu.Unlock()
	if closed {
		return providers.SendResult{Outcome: providers.Retry, Err: errors.New("outbox: the channel is closed")}
	}
	if isEmail(m) && ch.format == EML {
		return ch.writeEML(m)
	}
	return ch.writeRecord(m, false)
}

// SendBuffered is Send, except that a journal record may be held in memory
// until Flush (up to a megabyte of them): the caller records the outcome
// only after Flush returns nil. An .eml file is written at once.
func (ch *Channel) SendBuffered(ctx context.Context, m *providers.Message) providers.SendResult {
	if err := ctx.Err(); err != nil {
		return providers.SendResult{Outcome: providers.Retry, Err: err}
	}
	if m == nil || m.IdempotencyKey == "" || isEmail(m) && ch.format == EML {
		return ch.Send(ctx, m)
	}
	return ch.writeRecord(m, true)
}

// Flush writes the journal records SendBuffered holds. An error means that
// some of the messages it answered Sent were not written: their outcomes
// must not be recorded, and they are to be sent again.
func (ch *Channel) Flush() error {
	ch.mu.Lock()
	j := ch.journal
	ch.mu.Unlock()
	if j == nil {
		return nil
	}
	if err := j.flush(); err != nil {
		return fmt.Errorf("%s: writing %s: %w", ch.name, filepath.Join(ch.display, JournalName), err)
	}
	return nil
}

// isEmail reports whether m is an e-mail: its channel says so, or, when
// the channel is not set, it has a subject or an HTML body.
func isEmail(m *providers.Message) bool {
	return m.Channel == "email" || m.Channel == "" && (m.Subject != "" || m.HTML != "")
}

func (ch *Channel) writeEML(m *providers.Message) providers.SendResult {
	data, err := smtp.BuildMessage(m, ch.now())
	if err != nil {
		return providers.SendResult{Outcome: providers.Failed, Err: fmt.Errorf("outbox: %w", err)}
	}
	name := FileName(m.IdempotencyKey) + ".eml"
	if err := writeFileAtomic(ch.dir, name, data); err != nil {
		return providers.SendResult{Outcome: providers.Retry, Err: fmt.Errorf("outbox: writing %s: %w", filepath.Join(ch.display, name), err)}
	}
	ch.mu.Lock()
	ch.wroteEML = true
	ch.mu.Unlock()
	return providers.SendResult{Outcome: providers.Sent, ProviderMessageID: name}
}

// linePool holds buffers to encode records in: append copies the line, so
// a buffer is reused at once instead of being garbage per message.
var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func (ch *Channel) writeRecord(m *providers.Message, buffered bool) providers.SendResult {
	j, err := ch.openJournal()
	if err != nil {
		return providers.SendResult{Outcome: providers.Retry, Err: fmt.Errorf("outbox: %w", err)}
	}
	bp := linePool.Get().(*[]byte)
	defer linePool.Put(bp)
	line, err := appendRecord((*bp)[:0], m)
	*bp = line
	if err != nil {
		return providers.SendResult{Outcome: providers.Failed, Err: fmt.Errorf("outbox: %w", err)}
	}
	if err := j.append(m.IdempotencyKey, line, buffered); err != nil {
		return providers.SendResult{Outcome: providers.Retry, Err: fmt.Errorf("outbox: writing %s: %w", filepath.Join(ch.display, JournalName), err)}
	}
	return providers.SendResult{Outcome: providers.Sent, ProviderMessageID: "outbox:" + m.IdempotencyKey}
}

func (ch *Channel) openJournal() (*journal, error) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.closed {
		return nil, errors.New("the channel is closed")
	}
	if ch.journal == nil {
		j, err := openJournal(filepath.Join(ch.dir, JournalName))
		if err != nil {
			return nil, err
		}
		ch.journal = j
	}
	return ch.journal, nil
}

// Close syncs and releases the journal, and syncs the directory so that
// the names of the files written are durable. Sends after Close are Retry.
func (ch *Channel) Close() error {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.closed {
		return nil
	}
	ch.closed = true
	var errs []error
	if ch.journal != nil {
		errs = append(errs, ch.journal.release())
		ch.journal = nil
	}
	if ch.wroteEML {
		errs = append(errs, syncDir(ch.dir))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: %w", ch.name, err)
	}
	return nil
}

// FileName is the base name (without .eml) of the file a message with
// idempotency key key is written to: the key itself when it is made of
// lower-case letters, digits, '.', '_' and '-'; otherwise the key with
// every other character replaced by '_', followed by a hash of the key, so
// that two keys never share a file, even on a case-insensitive disk.
func FileName(key string) string {
	safe := len(key) <= 120 && key != "" && key[0] != '.'
	for i := 0; i < len(key) && safe; i++ {
		c := key[i]
		safe = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
	}
	if safe {
		return key
	}
	var b strings.Builder
	for i := 0; i < len(key) && b.Len() < 80; i++ {
		c := key[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.' && b.Len() > 0, c == '_', c == '-':
			b.WriteByte(c)
		default:
			b.WriteByte('_')
		}
	}
	sum := sha256.Sum256([]byte(key))
	return b.String() + "-" + hex.EncodeToString(sum[:6])
}

// writeFileAtomic writes data to dir/name through a synced temporary file
// renamed over it: a reader, or a crash, sees the old file or the new one.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, ".tmp-*-"+name)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(dir, name))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
