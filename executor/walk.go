package executor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/heraldhq/herald/planner"
	"github.com/heraldhq/herald/state"
)

// levels orders the kinds of objects: each depends only on kinds of a lower
// level. Creates and updates go up the levels, deletes come down them.
var levels = map[string]int{
	"herald":   0, // the sender and public URL every message is rendered with
	"provider": 0,
	"schema":   1,
	"source":   2,
	"consent":  3,
	"segment":  4,
	"template": 5,
	"campaign": 6, "audience": 6, "trigger": 6,
}

const maxLevel = 7 // kinds not listed (the apply marker of an abandoned apply)

func levelOf(kind string) int {
	if l, ok := levels[kind]; ok {
		return l
	}
	return maxLevel
}

// walk applies the plan's changes: deletes from the top level down, then
// creates and updates from the bottom up, each level's changes in parallel
// (campaign sends one campaign at a time, so that frequency caps count the
// campaigns before). A failed change stops the levels above it; state is
// written after every change, so it always matches what happened.
func (x *executor) walk(ctx context.Context) error {
	var deletes, applies [maxLevel + 1][]*planner.Change
	for _, c := range x.plan.Changes {
		switch c.Action {
		case planner.NoOp:
			continue
		case planner.Delete:
			deletes[levelOf(c.Kind)] = append(deletes[levelOf(c.Kind)], c)
		default:
			applies[levelOf(c.Kind)] = append(applies[levelOf(c.Kind)], c)
		}
	}
	if countChanges(x.plan) == 0 {
		return nil
	}
	if !x.res.Resumed {
		// Say that this plan is being applied before anything else is done.
		if err := x.write(ctx, nil, nil, false); err != nil {
			return err
		}
	}
	var order [][]*planner.Change
	for l := maxLevel; l >= 0; l-- {
		if len(deletes[l]) > 0 {
			order = append(order, deletes[l])
		}
	}
	for l := 0; l <= maxLevel; l++ {
		if len(applies[l]) > 0 {
			order = append(order, applies[l])
		}
	}
	var failed error
	for i, level := range order {
		if failed != nil {
			for _, rest := range order[i:] {
				for _, c := range rest {
					x.res.NotApplied = append(x.res.NotApplied, c.Address)
				}
			}
			break
		}
		failed = x.level(ctx, level)
	}
	if failed != nil {
		return failed
	}
	if len(x.res.Paused) > 0 {
		return fmt.Errorf("%w: %s; what it did not send is pending: apply the same plan again to resume", ErrPaused, strings.Join(x.res.Paused, ", "))
	}
	// Done: remove the marker, so that this plan is stale from now on.
	return x.write(ctx, nil, nil, true)
}

// level applies the changes of one level with bounded parallelism. A
// failed change does not stop the others of its level, which do not
// depend on it; the level's errors are returned together.
func (x *executor) level(ctx context.Context, changes []*planner.Change) error {
	var g errgroup.Group
	g.SetLimit(x.opts.Parallelism)
	var (
		mu   sync.Mutex
		errs []error
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	var campaigns []*planner.Change
	for _, c := range changes {
		if c.Kind == "campaign" && c.Action != planner.Delete {
			campaigns = append(campaigns, c)
			continue
		}
		g.Go(func() error {
			if err := x.vertex(ctx, c); err != nil {
				fail(err)
			}
			return nil
		})
	}
	g.Go(func() error {
		for _, c := range campaigns {
			if ctx.Err() != nil {
				fail(fmt.Errorf("%s: %w", c.Address, ctx.Err()))
				continue
			}
			if err := x.vertex(ctx, c); err != nil {
				fail(err)
			}
		}
		return nil
	})
	g.Wait()
	return errors.Join(errs...)
}

// vertex applies one change.
func (x *executor) vertex(ctx context.Context, c *planner.Change) (err error) {
	defer func() {
		msg := errString(err)
		if err != nil {
			x.res.failed(c.Address, err)
			err = fmt.Errorf("%s: %w", c.Address, err)
		} else {
			x.res.applied(c.Address)
		}
		x.mu.Lock()
		x.done++
		x.mu.Unlock()
		x.emit(Event{Type: "change_applied", Address: c.Address, Action: string(c.Action), Error: msg})
	}()
	if c.Action == planner.Delete {
		if c.Kind == "audience" {
			return x.deleteAudience(ctx, c)
		}
		return x.write(ctx, nil, []string{c.Address}, false)
	}
	obj := state.Object{Address: c.Address, Kind: c.Kind, Attrs: c.After}
	switch c.Kind {
	case "campaign":
		return x.campaign(ctx, c, obj)
	case "audience":
		return x.audience(ctx, c, obj)
	case "trigger":
		obj.Status = "active"
	}
	return x.write(ctx, []state.Object{obj}, nil, false)
}
