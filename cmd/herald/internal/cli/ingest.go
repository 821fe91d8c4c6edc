package cli

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/state"
)

func (a *app) ingestCmd() *cobra.Command {
	var (
		o        stateOpts
		provider string
		signed   string
		dryRun   bool
	)
	cmd := &cobra.Command{
		Use:   "ingest FILE...",
		Short: "Read delivery and unsubscribe webhooks into the ledger and suppressions",
		Long: `Ingest reads webhooks that Twilio and Mailchimp Transactional (Mandrill) posted
about messages herald sent, checks their signatures, and writes what they say
to the state: failed deliveries to the send ledger, and bounces, spam
complaints, unsubscribes and STOPs to the suppression list.

Each FILE is one webhook saved as the raw HTTP request the platform sent: the
request line, the headers (with X-Twilio-Signature or X-Mandrill-Signature),
an empty line, and the form-encoded body. For example:

  POST /hooks/twilio HTTP/1.1
  Host: herald.example.com
  Content-Type: application/x-www-form-urlencoded
  X-Twilio-Signature: 3Ug3gTo1wDWoDKHtr+nXJfkyE0k=

  MessageSid=SM1f0e…&MessageStatus=undelivered&ErrorCode=30003

The signature is checked against the URL the platform signed: -url when given,
otherwise the twilio provider's status_callback, or https:// + the Host header +
the request path; and with the provider's secret: the twilio provider's
auth_token, the mailchimp provider's webhook_key. The provider is -provider
(twilio.main), or the project's only provider of the platform that signed.

Every signature is checked, and every body read, before anything is written:
one bad file and nothing is, and ingest exits 1. Events about messages the
ledger does not know are reported and skipped. Ingesting a file twice is
harmless. An incoming STOP cannot be tied to a customer (the state holds no
phone numbers): it is reported and skipped; Twilio blocks the number itself.

Ingest takes the state lock while it writes.

Exit codes: 0 success (skipped events included); 1 error.`,
		Example: `  herald ingest -provider twilio.main hooks/twilio/*.http
  herald ingest -url https://herald.example.com/hooks/mandrill mandrill-0001.http
  herald ingest -dry-run saved/*.http`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg, diags := lang.Load(a.dir(), lang.Options{Vars: o.vars, VarFiles: o.varFiles})
			if diags.HasErrors() {
				var sources map[string][]byte
				if cfg != nil {
					sources = cfg.FileText()
				}
				a.writeDiags(a.stderr, diags, sources)
				return exitCode(1)
			}
			var fixed *lang.Provider
			if provider != "" {
				p, err := ingestProvider(cfg, provider)
				if err != nil {
					return a.fail("-provider: %v", err)
				}
				fixed = p
			}

			// Read and check every file before writing anything.
			byProvider := map[string][]ingest.Event{}
			webhooks := 0
			fileIndex := map[string]int{}
			for i, name := range args {
				fileIndex[name] = i
				data, err := os.ReadFile(a.path(name))
				if err != nil {
					return a.fail("%v; nothing was written", err)
				}
				req, err := ingest.ReadRequest(strings.NewReader(string(data)), signed)
				if err != nil {
					return a.fail("%s: %v; nothing was written", name, err)
				}
				p := fixed
				if p == nil {
					if p, err = onlyProvider(cfg, req.Platform); err != nil {
						return a.fail("%s: %v; nothing was written", name, err)
					}
				}
				evs, err := verifyAndParse(p, req, signed, name)
				if err != nil {
					return a.fail("%s: %v; nothing was written", name, err)
				}
				addr := "provider." + p.Address()
				byProvider[addr] = append(byProvider[addr], evs...)
				webhooks++
			}

			st, err := state.OpenExisting(ctx, a.dir(), cfg.Herald.State)
			if errors.Is(err, state.ErrNoState) {
				return a.fail("there is no state yet (%s): herald has sent nothing these webhooks could be about", state.Describe(a.dir(), cfg.Herald.State))
			}
			if err != nil {
				return a.fail("%v", err)
			}
			defer st.Close()
			if !dryRun {
				unlock, err := st.Lock(ctx, state.LockInfo{Who: who(), Operation: "ingest", Created: time.Now().UTC()})
				if err != nil {
					return a.fail("%v", err)
				}
				defer unlock()
			}

			addrs := make([]string, 0, len(byProvider))
			for k := range byProvider {
				addrs = append(addrs, k)
			}
			sort.Strings(addrs)
			// Find every ledger row first, then write: a ledger that
			// cannot be read stops ingest before any provider's changes.
			var results []*ingest.Result
			for _, addr := range addrs {
				res, err := ingest.Apply(ctx, st, addr, byProvider[addr], ingest.Options{DryRun: true})
				if err != nil {
					return a.fail("%v; nothing was written", err)
				}
				results = append(results, res)
			}
			if !dryRun {
				results = results[:0]
				for _, addr := range addrs {
					res, err := ingest.Apply(ctx, st, addr, byProvider[addr], ingest.Options{})
					if err != nil {
						return a.fail("%v", err)
					}
					results = append(results, res)
				}
			}
			// One line per event, in the order of the files.
			var changes []ingest.Change
			updated, suppressed, skipped := 0, 0, 0
			for _, res := range results {
				changes = append(changes, res.Changes...)
				updated += res.Updated
				suppressed += res.Suppressions
			}
			sort.SliceStable(changes, func(i, j int) bool {
				return fileIndex[changes[i].Event.File] < fileIndex[changes[j].Event.File]
			})
			for _, c := range changes {
				fmt.Fprintln(a.stdout, c.Summary())
				if c.Status == "" && c.Suppress == "" {
					skipped++
				}
			}
			events := len(changes)
			verb := "Ingested"
			if dryRun {
				verb = "Dry run, nothing written:"
			}
			fmt.Fprintf(a.stdout, "%s %d webhooks: %d events · %d sends updated · %d suppressions · %d skipped.\n",
				verb, webhooks, events, updated, suppressed, skipped)
			return nil
		},
	}
	o.register(cmd)
	f := cmd.Flags()
	f.StringVar(&provider, "provider", "", "the `PROVIDER` the webhooks are for (twilio.main, mailchimp.tx); by default the only one of the platform that signed")
	f.StringVar(&signed, "url", "", "the `URL` the platform signed (the webhook URL configured there); by default from the provider or the request")
	f.BoolVar(&dryRun, "dry-run", false, "check and show what would change, and write nothing")
	return cmd
}

// ingestProvider finds the provider -provider names.
func ingestProvider(cfg *lang.Config, name string) (*lang.Provider, error) {
	name = strings.TrimPrefix(name, "provider.")
	p := cfg.Providers[name]
	if p == nil {
		var have []string
		for addr, q := range cfg.Providers {
			if ingest.PlatformOf(q.Type) != "" {
				have = append(have, addr)
			}
		}
		sort.Strings(have)
		if len(have) == 0 {
			return nil, fmt.Errorf("no provider %s in the configuration, and no twilio or mailchimp provider at all", name)
		}
		return nil, fmt.Errorf("no provider %s in the configuration; these take webhooks: %s", name, strings.Join(have, ", "))
	}
	if ingest.PlatformOf(p.Type) == "" {
		return nil, fmt.Errorf("provider.%s is of type %s: ingest reads the webhooks of twilio and mailchimp providers", name, p.Type)
	}
	return p, nil
}

// onlyProvider is the project's one provider of the platform that signed.
func onlyProvider(cfg *lang.Config, pl ingest.Platform) (*lang.Provider, error) {
	if pl == "" {
		return nil, fmt.Errorf("the request has neither an %s nor an %s header: it is not a webhook of Twilio or Mandrill, or the header was not saved", ingest.TwilioHeader, ingest.MandrillHeader)
	}
	var found []*lang.Provider
	for _, p := range cfg.Providers {
		if ingest.PlatformOf(p.Type) == pl {
			found = append(found, p)
		}
	}
	typ := ingest.ProviderType(pl)
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, fmt.Errorf("a %s webhook, and the configuration has no %s provider", pl, typ)
	}
	var names []string
	for _, p := range found {
		names = append(names, p.Address())
	}
	sort.Strings(names)
	return nil, fmt.Errorf("a %s webhook, and there are %d %s providers: say which with -provider (%s)", pl, len(found), typ, strings.Join(names, ", "))
}

// verifyAndParse checks a request's signature with p's secret and reads
// its events.
func verifyAndParse(p *lang.Provider, req *ingest.Request, signed, name string) ([]ingest.Event, error) {
	evs, err := ingest.VerifyAndParse(p, req, signed, name)
	if errors.Is(err, ingest.ErrSignature) {
		err = fmt.Errorf("%w (give the URL configured there with -url)", err)
	}
	return evs, err
}
