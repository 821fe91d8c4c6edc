package executor

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// runMetrics are what /metrics shows of a runner. Labels are addresses,
// step names, providers and outcomes: never a customer.
type runMetrics struct {
	reg       *prometheus.Registry
	eventsIn  *prometheus.CounterVec // source, outcome
	rejected  *prometheus.CounterVec // source, reason
	matches   *prometheus.CounterVec // trigger
	decisions *prometheus.CounterVec // trigger, decision
	journeys  *prometheus.CounterVec // trigger: started
	exits     *prometheus.CounterVec // trigger
	steps     *prometheus.CounterVec // trigger, step, outcome
	sends     *prometheus.CounterVec // provider, outcome
	byStep    *prometheus.GaugeVec   // trigger, step, status
	lag       prometheus.Gauge       // seconds the oldest claimed item was overdue
	queue     *prometheus.GaugeVec   // kind: timers, sends
	decide    prometheus.Histogram   // event arrival to decision, seconds
	links     *prometheus.CounterVec // route, outcome
	skipped   *prometheus.CounterVec // address, reason
	leader    prometheus.Gauge       // 1 when this runner is the scheduler
	polls     *prometheus.CounterVec // source, outcome
}

func newRunMetrics() *runMetrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &runMetrics{reg: reg}
	m.eventsIn = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_events_in_total", Help: "Events received, by source and outcome (accepted, rejected)."}, []string{"source", "outcome"})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_events_rejected_total", Help: "Events rejected, by source and reason."}, []string{"source", "reason"})
	m.matches = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_trigger_matches_total", Help: "Events that matched a trigger's on and when."}, []string{"trigger"})
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_trigger_decisions_total", Help: "What each event did to each trigger of its source."}, []string{"trigger", "decision"})
	m.journeys = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_journeys_started_total", Help: "Journeys started."}, []string{"trigger"})
	m.exits = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_journeys_exited_total", Help: "Journeys ended by exit_when or by their trigger's removal."}, []string{"trigger"})
	m.steps = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_journey_steps_total", Help: "Journey steps run, by outcome."}, []string{"trigger", "step", "outcome"})
	m.sends = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_sends_total", Help: "Messages the runner sent or decided not to send, by provider and outcome."}, []string{"provider", "outcome"})
	m.byStep = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "herald_journeys", Help: "Journeys by trigger, step and status (active, waiting, exited, completed)."}, []string{"trigger", "step", "status"})
	m.lag = prometheus.NewGauge(prometheus.GaugeOpts{Name: "herald_lag_seconds", Help: "How overdue the oldest item of the last claimed batch was."})
	m.queue = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "herald_queue_depth", Help: "Due items claimed in the last poll, by kind (timers, sends)."}, []string{"kind"})
	m.decide = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "herald_event_decision_seconds", Help: "From an event's arrival to its triggers' decisions.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}})
	m.links = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_link_requests_total", Help: "Unsubscribe, click and open requests, by route and outcome."}, []string{"route", "outcome"})
	m.skipped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_skipped_total", Help: "Sends skipped at send time, by campaign or trigger and reason."}, []string{"address", "reason"})
	m.leader = prometheus.NewGauge(prometheus.GaugeOpts{Name: "herald_scheduler_leader", Help: "1 when this runner is the one that reads event sources."})
	m.polls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_source_polls_total", Help: "Polls of tailed files and cursor tables, by source and outcome."}, []string{"source", "outcome"})
	for _, c := range []prometheus.Collector{m.eventsIn, m.rejected, m.matches, m.decisions, m.journeys, m.exits, m.steps, m.sends,
		m.byStep, m.lag, m.queue, m.decide, m.links, m.skipped, m.leader, m.polls} {
		f(c)
	}
	return m
}
