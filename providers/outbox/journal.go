package outbox

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

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

// encodeRecord renders m as one journal line, newline included.
func encodeRecord(m *providers.Message) ([]byte, error) {
	r := record{
		Key: m.IdempotencyKey, Campaign: m.Campaign, Variant: m.Variant, CustomerID: m.CustomerID,
		Channel: m.Channel, To: m.To, From: m.From, FromName: m.FromName, ReplyTo: m.ReplyTo,
		Subject: m.Subject, HTML: m.HTML, Text: m.Text, Headers: m.Headers,
	}
	if len(m.Payload) > 0 {
		if !json.Valid(m.Payload) {
			return nil, errors.New("the message's payload is not JSON")
		}
		r.Payload = m.Payload
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep html readable: <p>, not \u003cp\u003e
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
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

// append writes line unless a record with key is already in the journal.
// The write is one call; a write that fails is undone by truncating the
// file back, so that the next record does not follow half a line.
func (j *journal) append(key string, line []byte) error {
	id := idOf(key)
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.broken != nil {
		return j.broken
	}
	if j.f == nil {
		return errors.New("the journal is closed")
	}
	if _, dup := j.keys[id]; dup {
		return nil
	}
	n, err := j.f.WriteAt(line, j.size)
	if err != nil {
		if n > 0 {
			if terr := j.f.Truncate(j.size); terr != nil {
				j.broken = fmt.Errorf("a failed write left part of a record that could not be removed: %w", errors.Join(err, terr))
			}
		}
		return err
	}
	j.size += int64(n)
	j.keys[id] = struct{}{}
	if j.unsynced++; j.unsynced >= syncEvery {
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
	err := j.f.Sync()
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	j.f = nil
	return err
}
