package outbox

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/heraldhq/herald/providers"
)

// record is one line of messages.jsonl. Empty fields are left out: a
// record holds what its message carried and nothing more.
type record struct {
	Key        string            `json:"key"`
	Campaign   string            `json:"campaign,omitempty"`
	Variant    string            `json:"variant,omitempty"`
	CustomerID string            `json:"customer_id,omitempty"`
	Channel    string            `json:"channel,omitempty"`
	To         string            `json:"to,omitempty"`
	From       string            `json:"from,omitempty"`
	FromName   string            `json:"from_name,omitempty"`
	ReplyTo    string            `json:"reply_to,omitempty"`
	Subject    string            `json:"subject,omitempty"`
	HTML       string            `json:"html,omitempty"`
	Text       string            `json:"text,omitempty"`
	Payload    json.RawMessage   `json:"payload,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
}

// encodeRecord renders m as one journal line, newline included: the bytes
// json.Encoder with SetEscapeHTML(false) writes for a record (the test
// checks that), appended by hand because reflection was a tenth of the
// time of an apply to the outbox.
func encodeRecord(m *providers.Message) ([]byte, error) {
	return appendRecord(nil, m)
}

// appendRecord appends m's journal line to b.
func appendRecord(b []byte, m *providers.Message) ([]byte, error) {
	b = append(b, `{"key":`...)
	b = appendString(b, m.IdempotencyKey)
	for _, f := range [...]struct{ name, v string }{
		{`,"campaign":`, m.Campaign}, {`,"variant":`, m.Variant}, {`,"customer_id":`, m.CustomerID},
		{`,"channel":`, m.Channel}, {`,"to":`, m.To}, {`,"from":`, m.From}, {`,"from_name":`, m.FromName},
		{`,"reply_to":`, m.ReplyTo}, {`,"subject":`, m.Subject}, {`,"html":`, m.HTML}, {`,"text":`, m.Text},
	} {
		if f.v != "" {
			b = append(b, f.name...)
			b = appendString(b, f.v)
		}
	}
	if len(m.Payload) > 0 {
		if !json.Valid(m.Payload) {
			return nil, errors.New("the message's payload is not JSON")
		}
		b = append(b, `,"payload":`...)
		buf := bytes.NewBuffer(b)
		if err := json.Compact(buf, m.Payload); err != nil {
			return nil, err
		}
		b = buf.Bytes()
	}
	if len(m.Headers) > 0 {
		b = append(b, `,"headers":{`...)
		for i, k := range slices.Sorted(maps.Keys(m.Headers)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, m.Headers[k])
		}
		b = append(b, '}')
	}
	return append(b, '}', '\n'), nil
}

// appendString appends s as a JSON string, escaped as encoding/json does
// without HTML escaping: quotes, backslashes and control characters,
// invalid UTF-8 as U+FFFD, and U+2028 and U+2029.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// keyID is what a journal remembers of a key: 16 bytes of its SHA-256,
// whatever the key's length.
type keyID [16]byte

func idOf(key string) keyID {
	sum := sha256.Sum256([]byte(key))
	return keyID(sum[:16])
}

// journal is one open messages.jsonl, shared by the channels of a process
// that write to the same directory.
type journal struct {
	path string
	refs int // guarded by journals.Mutex

	mu       sync.Mutex
	f        *os.File
	size     int64 // bytes of whole records in the file
	keys     map[keyID]struct{}
	unsynced int
	broken   error // set when a failed write could not be undone

	// Records appended with buffered set wait here for flush; their keys
	// are in keys already, and in held, to take out if the write fails.
	buf      []byte
	held     []keyID
	promised bool // a held record's append was answered
}

var journals struct {
	sync.Mutex
	m map[string]*journal
}

// openJournal opens path for appending, or takes another reference to it
// when this process has it open already.
func openJournal(path string) (*journal, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	journals.Lock()
	defer journals.Unlock()
	if j := journals.m[abs]; j != nil {
		j.refs++
		return j, nil
	}
	j, err := loadJournal(abs)
	if err != nil {
		return nil, err
	}
	if journals.m == nil {
		journals.m = map[string]*journal{}
	}
	j.refs = 1
	journals.m[abs] = j
	return j, nil
}

// loadJournal opens the file, reads the keys in it, and cuts off a torn
// last line.
func loadJournal(path string) (*journal, error) {
	name := filepath.Base(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", name, err)
	}
	j := &journal{path: path, f: f, keys: map[keyID]struct{}{}}
	r := bufio.NewReaderSize(f, 64<<10)
	var off int64
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			if len(line) > 0 {
				// A record is written with one write call, newline
				// included: a line without one is the torn end of a
				// write that never completed, and never counted as sent.
				if err := f.Truncate(off); err != nil {
					f.Close()
					return nil, fmt.Errorf("cutting the torn last line of %s: %w", name, err)
				}
			}
			break
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		off += int64(len(line))
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var rec struct {
			Key *string `json:"key"`
		}
		if err := json.Unmarshal(line, &rec); err != nil || rec.Key == nil {
			f.Close()
			return nil, fmt.Errorf("%s line %d is not an outbox record (a JSON object with a key): move the file away or repair that line", name, n)
		}
		j.keys[idOf(*rec.Key)] = struct{}{}
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	j.size = off
	return j, nil
}

// maxHeld is how many bytes of buffered records a journal holds before it
// writes them without waiting for flush.
const maxHeld = 1 << 20

// append adds line unless a record with key is in the journal already.
// Unbuffered, it returns once the line is written, with whatever records
// were held before it, in one write call. Buffered, the line may be held
// in memory until the next flush (or the next unbuffered append): up to
// maxHeld bytes, so that an apply writes its journal with one call per
// batch of messages instead of one per message.
func (j *journal) append(key string, line []byte, buffered bool) error {
	id := idOf(key)
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.broken != nil {
		return j.broken
	}
	if j.f == nil {
		return errors.New("the journal is closed")
	}
	if _, dup := j.keys[id]; !dup {
		j.buf = append(j.buf, line...)
		j.held = append(j.held, id)
		j.keys[id] = struct{}{}
	}
	if buffered && len(j.buf) < maxHeld {
		j.promised = j.promised || len(j.held) > 0
		return nil
	}
	return j.flushLocked()
}

// flush writes the records held in memory.
func (j *journal) flush() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.broken != nil {
		return j.broken
	}
	return j.flushLocked()
}

// flushLocked writes the held records with one write call, and syncs the
// file every syncEvery records. A write that fails is undone by
// truncating the file back, so that the next record does not follow part
// of one, and the keys it held are forgotten, so that they can be written
// again. A failure after a buffered append was answered breaks the
// journal for good: the caller was told it was written.
func (j *journal) flushLocked() error {
	if len(j.held) == 0 {
		return nil
	}
	n, err := j.f.WriteAt(j.buf, j.size)
	if err != nil {
		if n > 0 {
			if terr := j.f.Truncate(j.size); terr != nil {
				err = errors.Join(err, terr)
				j.broken = fmt.Errorf("a failed write left part of a record that could not be removed: %w", err)
			}
		}
		for _, id := range j.held {
			delete(j.keys, id)
		}
		if j.promised && j.broken == nil {
			j.broken = fmt.Errorf("records answered as written were lost in a failed write: %w", err)
		}
		j.buf, j.held, j.promised = j.buf[:0], j.held[:0], false
		return err
	}
	j.size += int64(n)
	j.unsynced += len(j.held)
	j.buf, j.held, j.promised = j.buf[:0], j.held[:0], false
	if j.unsynced >= syncEvery {
		if err := j.f.Sync(); err != nil {
			return err
		}
		j.unsynced = 0
	}
	return nil
}

// release drops a reference; the last one syncs and closes the file.
func (j *journal) release() error {
	journals.Lock()
	j.refs--
	last := j.refs == 0
	if last {
		delete(journals.m, j.path)
	}
	journals.Unlock()
	if !last {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	err := j.flushLocked()
	if serr := j.f.Sync(); err == nil {
		err = serr
	}
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	j.f = nil
	return err
}
