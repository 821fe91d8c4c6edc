package planner

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"

	"github.com/heraldhq/herald/lang"
)

// fileFormat names the plan file format inside the file, so a plan file
// describes itself.
const fileFormat = "herald-plan"

// planFile is what a plan file holds: the plan, and what the text and JSON
// renderings leave out — the pinned recipients and membership changes.
type planFile struct {
	Format     string                 `json:"format"`
	Version    int                    `json:"format_version"`
	Plan       *Plan                  `json:"plan"`
	Recipients map[string][]Recipient `json:"recipients,omitempty"`
	AddIDs     map[string][]string    `json:"audience_add,omitempty"`
	RemoveIDs  map[string][]string    `json:"audience_remove,omitempty"`
}

// WriteFile saves the plan, gzip-compressed JSON.
func (p *Plan) WriteFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := p.Write(f); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// Write writes the plan file format to w.
func (p *Plan) Write(w io.Writer) error {
	pf := planFile{Format: fileFormat, Version: FormatVersion, Plan: p,
		Recipients: map[string][]Recipient{}, AddIDs: map[string][]string{}, RemoveIDs: map[string][]string{}}
	for _, c := range p.Changes {
		if c.Campaign != nil {
			pf.Recipients[c.Address] = c.Campaign.Recipients
			// Addresses shown with -show-pii stay out of the file, which is
			// kept as a CI artifact.
			if c.Campaign.Sample != nil {
				sample := c.Campaign.Sample
				c.Campaign.Sample = nil
				defer func() { c.Campaign.Sample = sample }()
			}
		}
		if c.Audience != nil {
			pf.AddIDs[c.Address] = c.Audience.AddIDs
			pf.RemoveIDs[c.Address] = c.Audience.RemoveIDs
		}
	}
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	zw.Comment = fmt.Sprintf("%s v%d", fileFormat, FormatVersion)
	bw := bufio.NewWriterSize(zw, 1<<16)
	if err := pf.encode(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return zw.Close()
}

// encode writes pf as json.NewEncoder(w).Encode(pf) would, byte for byte,
// but streams the recipients and membership ids: the encoder builds the
// whole document in memory first, which at a million recipients doubled
// the memory of herald plan -out.
func (pf *planFile) encode(w *bufio.Writer) error {
	head, err := json.Marshal(struct {
		Format  string `json:"format"`
		Version int    `json:"format_version"`
		Plan    *Plan  `json:"plan"`
	}{pf.Format, pf.Version, pf.Plan})
	if err != nil {
		return err
	}
	w.Write(head[:len(head)-1]) // without its closing brace
	if len(pf.Recipients) > 0 {
		w.WriteString(`,"recipients":{`)
		for i, addr := range sortedKeys(pf.Recipients) {
			if i > 0 {
				w.WriteByte(',')
			}
			writeJSONString(w, addr)
			w.WriteByte(':')
			rs := pf.Recipients[addr]
			if rs == nil {
				w.WriteString("null")
				continue
			}
			w.WriteByte('[')
			for j := range rs {
				if j > 0 {
					w.WriteByte(',')
				}
				r := &rs[j]
				w.WriteString(`{"id":`)
				writeJSONString(w, r.CustomerID)
				w.WriteString(`,"v":`)
				writeJSONString(w, r.Variant)
				if r.SendAt != 0 {
					w.WriteString(`,"t":`)
					w.Write(strconv.AppendInt(w.AvailableBuffer(), r.SendAt, 10))
				}
				w.WriteByte('}')
			}
			w.WriteByte(']')
		}
		w.WriteByte('}')
	}
	for _, m := range []struct {
		name string
		ids  map[string][]string
	}{{"audience_add", pf.AddIDs}, {"audience_remove", pf.RemoveIDs}} {
		if len(m.ids) == 0 {
			continue
		}
		w.WriteString(`,"` + m.name + `":{`)
		for i, addr := range sortedKeys(m.ids) {
			if i > 0 {
				w.WriteByte(',')
			}
			writeJSONString(w, addr)
			w.WriteByte(':')
			ids := m.ids[addr]
			if ids == nil {
				w.WriteString("null")
				continue
			}
			w.WriteByte('[')
			for j, id := range ids {
				if j > 0 {
					w.WriteByte(',')
				}
				writeJSONString(w, id)
			}
			w.WriteByte(']')
		}
		w.WriteByte('}')
	}
	_, err = w.WriteString("}\n")
	return err
}

// writeJSONString writes s as encoding/json does. Ids are plain ASCII,
// written as they are; anything else goes through encoding/json.
func writeJSONString(w *bufio.Writer, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always marshals
			w.Write(b)
			return
		}
	}
	w.WriteByte('"')
	w.WriteString(s)
	w.WriteByte('"')
}

// ErrNotPlan is returned for a file that is not a herald plan.
var ErrNotPlan = errors.New("not a herald plan file")

// ReadFile reads a saved plan.
func ReadFile(path string) (*Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f)
}

// Read reads the plan file format.
func Read(r io.Reader) (*Plan, error) {
	zr, err := gzip.NewReader(bufio.NewReader(r))
	if err != nil {
		return nil, fmt.Errorf("%w (it is not gzip-compressed; make one with herald plan -out FILE)", ErrNotPlan)
	}
	var pf planFile
	if err := json.NewDecoder(zr).Decode(&pf); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotPlan, err)
	}
	if pf.Format != fileFormat || pf.Plan == nil {
		return nil, ErrNotPlan
	}
	if pf.Version > FormatVersion {
		return nil, fmt.Errorf("the plan was made by a newer herald (plan format %d; this herald reads up to %d): upgrade herald or plan again", pf.Version, FormatVersion)
	}
	p := pf.Plan
	for _, c := range p.Changes {
		if c.Campaign != nil {
			c.Campaign.Recipients = pf.Recipients[c.Address]
		}
		if c.Audience != nil {
			c.Audience.AddIDs = pf.AddIDs[c.Address]
			c.Audience.RemoveIDs = pf.RemoveIDs[c.Address]
		}
	}
	return p, nil
}

// ConfigDigest is the SHA-256 of every configuration file and template
// the configuration read, by name and content.
func ConfigDigest(cfg *lang.Config) (string, error) {
	files := cfg.FileText()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(files[n]))
		h.Write(files[n])
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
