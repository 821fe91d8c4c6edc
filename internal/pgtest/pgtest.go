// Package pgtest gives tests a PostgreSQL database of their own.
//
// Start returns the URL of a fresh, empty database, dropped when the test
// ends. With HERALD_TEST_PG_URL set, the databases are created on that
// server. Otherwise pgtest starts one throwaway cluster per test binary —
// initdb into a temporary directory, listening only on a unix socket in it,
// with fsync off — in about a second, and stops it when the binary ends.
// As root, the cluster runs as the postgres OS user, since PostgreSQL
// refuses to run as root.
//
// A package that uses Start calls Main from its TestMain, so the cluster
// is stopped and its directory removed after the tests:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// When PostgreSQL is missing, Start skips the test — or fails it when the
// CI environment variable is set, so that CI never passes by skipping.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// EnvURL names the environment variable that points tests at a running
// server instead of a throwaway cluster. Its user must be allowed to create
// databases.
const EnvURL = "HERALD_TEST_PG_URL"

// errUnavailable marks why PostgreSQL cannot be had at all, as opposed to
// a cluster that failed to start.
var errUnavailable = errors.New("PostgreSQL is not available")

// Available reports whether Start can give a database: HERALD_TEST_PG_URL
// is set, or the PostgreSQL server binaries are installed (and, as root,
// there is a postgres user to run them as). It starts nothing.
func Available() bool {
	if os.Getenv(EnvURL) != "" {
		return true
	}
	if _, err := binDir(); err != nil {
		return false
	}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			return false
		}
	}
	return true
}

// Start returns the URL of a new, empty database, dropped when t ends.
func Start(t testing.TB) string {
	t.Helper()
	s, err := server()
	if err != nil {
		if errors.Is(err, errUnavailable) {
			if os.Getenv("CI") != "" {
				t.Fatalf("pgtest: %v; under CI (CI is set) PostgreSQL is required: install it or set %s", err, EnvURL)
			}
			t.Skipf("pgtest: %v; install PostgreSQL or set %s to run this test", err, EnvURL)
		}
		t.Fatalf("pgtest: %v", err)
	}
	name, dbURL, err := s.createDB()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.dropDB(name); err != nil {
			t.Logf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return dbURL
}

// Main runs a package's tests and then stops the cluster Start started,
// if any, and exits. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops the cluster and removes its directory. Main calls it; call it
// yourself only from a TestMain that cannot use Main. Start must not be
// called after it.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if srv != nil {
		srv.stop()
	}
}

var (
	once   sync.Once
	mu     sync.Mutex // guards srv against Stop
	srv    *pgServer
	srvErr error
)

func server() (*pgServer, error) {
	once.Do(func() {
		s, err := newServer()
		mu.Lock()
		srv, srvErr = s, err
		mu.Unlock()
	})
	return srv, srvErr
}

// pgServer is where test databases are made: a server given by URL, or
// the throwaway cluster.
type pgServer struct {
	adminURL string
	// makeURL turns the admin URL into one for database name.
	makeURL func(name string) string

	mu    sync.Mutex
	admin *pgx.Conn

	cluster *cluster // nil for an external server
}

func newServer() (*pgServer, error) {
	if u := os.Getenv(EnvURL); u != "" {
		s := &pgServer{adminURL: u, makeURL: func(name string) string { return withDatabase(u, name) }}
		return s, s.connect()
	}
	c, err := startCluster()
	if err != nil {
		return nil, err
	}
	s := &pgServer{adminURL: c.url("postgres"), makeURL: c.url, cluster: c}
	if err := s.connect(); err != nil {
		c.stop()
		return nil, err
	}
	return s, nil
}

func (s *pgServer) connect() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.adminURL)
	if err != nil {
		if s.cluster == nil {
			return fmt.Errorf("connecting to %s: %w", EnvURL, err)
		}
		return fmt.Errorf("connecting to the test cluster: %w", err)
	}
	s.admin = conn
	return nil
}

var dbSeq struct {
	sync.Mutex
	n int
}

func (s *pgServer) createDB() (name, dbURL string, err error) {
	dbSeq.Lock()
	dbSeq.n++
	n := dbSeq.n
	dbSeq.Unlock()
	var b [4]byte
	_, _ = rand.Read(b[:])
	// Random, so that test binaries sharing one HERALD_TEST_PG_URL server
	// never collide.
	name = fmt.Sprintf("herald_test_%d_%s", n, hex.EncodeToString(b[:]))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admin == nil {
		return "", "", errors.New("the test cluster was stopped (is Start called after Main's tests ended?)")
	}
	if _, err := s.admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", "", fmt.Errorf("creating database %s: %w", name, err)
	}
	return name, s.makeURL(name), nil
}

func (s *pgServer) dropDB(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admin == nil {
		return nil // the cluster is gone, and the database with it
	}
	// WITH (FORCE) ends sessions a test left open (PostgreSQL 13 and later).
	_, err := s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42601" { // syntax error: an older server
		_, err = s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name)
	}
	return err
}

func (s *pgServer) stop() {
	s.mu.Lock()
	if s.admin != nil {
		s.admin.Close(context.Background())
		s.admin = nil
	}
	s.mu.Unlock()
	if s.cluster != nil {
		s.cluster.stop()
	}
}

// withDatabase returns the connection string u naming database name
// instead: a URL's path, or a dbname= keyword.
func withDatabase(u, name string) string {
	if strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://") {
		pu, err := url.Parse(u)
		if err == nil {
			pu.Path = "/" + name
			q := pu.Query()
			if q.Has("dbname") {
				q.Set("dbname", name)
				pu.RawQuery = q.Encode()
			}
			return pu.String()
		}
	}
	return u + " dbname=" + name // a later keyword wins
}

// cluster is a throwaway PostgreSQL cluster listening on a unix socket in
// its directory.
type cluster struct {
	dir     string // holds data/, the socket and the log
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

// url is the URL of database name in the cluster.
func (c *cluster) url(name string) string {
	q := url.Values{"host": {c.dir}, "sslmode": {"disable"}}
	return (&url.URL{Scheme: "postgres", User: url.User("postgres"), Path: "/" + name, RawQuery: q.Encode()}).String()
}

// binDir finds the PostgreSQL server binaries: pg_config --bindir, the
// newest /usr/lib/postgresql/*/bin (Debian, Ubuntu), or initdb on PATH.
func binDir() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); has(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("%w: no initdb and postgres binaries (looked at pg_config --bindir, /usr/lib/postgresql/*/bin and PATH)", errUnavailable)
}

func startCluster() (*cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	var cred *credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("%w: running as root, and there is no postgres user to run the server as", errUnavailable)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &credential{uid: uint32(uid), gid: uint32(gid)}
	}
	// The socket path must fit in 107 bytes, and as root the server's user
	// must be able to reach the directory: /tmp serves both.
	base := os.TempDir()
	if cred != nil || len(base) > 60 {
		base = "/tmp"
	}
	sweep(base)
	dir, err := os.MkdirTemp(base, "herald-pg-")
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.uid), int(cred.gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	c := &cluster{dir: dir, exited: make(chan struct{})}
	data := filepath.Join(dir, "data")

	var out bytes.Buffer
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Stdout, initdb.Stderr = &out, &out
	initdb.Dir = dir
	if err := setProcAttr(initdb, cred, false); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := initdb.Run(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out.String())
	}

	logPath := filepath.Join(dir, "postgres.log")
	logf, err := os.Create(logPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logf.Close()
	// Only a unix socket in dir; durability off, since the cluster is
	// thrown away.
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", dir,
		"-c", "listen_addresses=", "-F", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "shared_buffers=64MB")
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.Dir = dir
	// The server dies with the test binary, even when that is killed.
	if err := setProcAttr(c.cmd, cred, true); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// The kernel sends the parent-death signal when the thread that
	// started the server ends, not the process: start it from a goroutine
	// locked to its thread, which lives as long as the server.
	started := make(chan error)
	go func() {
		runtime.LockOSThread()
		if err := c.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	if err := <-started; err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting postgres: %w", err)
	}
	if err := c.waitReady(logPath); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// waitReady waits until the server takes connections.
func (c *cluster) waitReady(logPath string) error {
	deadline := time.Now().Add(60 * time.Second)
	u := c.url("postgres")
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, u)
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case <-c.exited:
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres exited: %v\n%s", c.waitErr, log)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres did not accept connections within a minute: %v\n%s", err, log)
		}
	}
}

// sweep removes the directories of clusters whose test binary was killed
// (the server went with it, but its directory stayed): those with no
// running server, untouched for an hour.
func sweep(base string) {
	dirs, _ := filepath.Glob(filepath.Join(base, "herald-pg-*"))
	for _, d := range dirs {
		fi, err := os.Stat(d)
		if err != nil || !fi.IsDir() || time.Since(fi.ModTime()) < time.Hour {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "data", "postmaster.pid")); errors.Is(err, os.ErrNotExist) {
			os.RemoveAll(d)
		}
	}
}

// stop shuts the server down (fast shutdown, then a kill) and removes the
// directory.
func (c *cluster) stop() {
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(os.Interrupt) // SIGINT: fast shutdown
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
	}
	os.RemoveAll(c.dir)
}

// credential is the user the server runs as when herald's tests run as
// root.
type credential struct{ uid, gid uint32 }
