package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
)

// Open opens the state a project's herald block names: an SQLite file
// (Path relative to the project directory dir, created when missing) or a
// PostgreSQL database.
func Open(ctx context.Context, dir string, s lang.State) (Backend, error) {
	switch s.Backend {
	case "", "sqlite":
		return OpenSQLite(ctx, sqlitePath(dir, s))
	case "postgres":
		url, err := postgresURL(s)
		if err != nil {
			return nil, err
		}
		return OpenPostgres(ctx, url)
	default:
		return nil, fmt.Errorf("unknown state backend %q", s.Backend)
	}
}

// OpenExisting is Open for commands that only read the state or its lock:
// it returns ErrNoState instead of creating an SQLite file that is not
// there. (A PostgreSQL database is made ready as by Open.)
func OpenExisting(ctx context.Context, dir string, s lang.State) (Backend, error) {
	if s.Backend == "" || s.Backend == "sqlite" {
		p := sqlitePath(dir, s)
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s does not exist", ErrNoState, p)
		}
	}
	return Open(ctx, dir, s)
}

// Describe says where the state is, for messages: the SQLite file, or
// "PostgreSQL" (the URL may hold a password).
func Describe(dir string, s lang.State) string {
	if s.Backend == "postgres" {
		return "the PostgreSQL state"
	}
	return sqlitePath(dir, s)
}

func sqlitePath(dir string, s lang.State) string {
	p := s.Path
	if p == "" {
		p = ".herald/state.db"
	}
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

func postgresURL(s lang.State) (string, error) {
	v := s.URL
	switch {
	case v == cty.NilVal || v.IsNull():
		return "", errors.New("the postgres state has no url")
	case !v.IsKnown():
		hint := s.URLUnset.Hint()
		if hint == "" {
			hint = "it reads an environment variable or a variable that is not set"
		}
		return "", errors.New("the postgres state url is not known: " + hint)
	case !v.Type().Equals(cty.String):
		return "", errors.New("the postgres state url must be a string")
	}
	url := v.AsString()
	if url == "" {
		return "", errors.New("the postgres state url is empty")
	}
	return url, nil
}
