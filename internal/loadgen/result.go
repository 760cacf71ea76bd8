package loadgen

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Result is what one Run measured. Counts are over the measured phase
// only: warm-up messages are not counted.
type Result struct {
	Target    string  `json:"target"`
	Encoding  string  `json:"encoding"` // json or msgpack; "nats" for nats-ws
	Clients   int     `json:"clients"`
	Subjects  int     `json:"subjects"`
	Subscribe string  `json:"subscribe"` // "one subject each" or the patterns
	Rate      float64 `json:"rate"`      // asked, messages per second
	Payload   int     `json:"payload_bytes"`
	Policy    string  `json:"policy,omitempty"`
	MaxRate   float64 `json:"max_rate,omitempty"`

	// Published is the number of messages published, in PublishTime.
	// PublisherNote says when the broker held the publisher back (fewer
	// than Rate × Duration published within twice Duration) or had not
	// taken every message 5 s after the last publish.
	Published     uint64        `json:"published"`
	PublishTime   time.Duration `json:"publish_ns"`
	PublisherNote string        `json:"publisher_note,omitempty"`
	// Expected is the number of deliveries if nothing were dropped or
	// conflated: for each subject, messages published times clients
	// subscribed to it. Delivered is the number received.
	Expected  uint64 `json:"expected"`
	Delivered uint64 `json:"delivered"`
	// Batches is the number of batch frames, with at least one measured
	// message, that StreamHub clients received; Delivered / Batches is the
	// mean events per WebSocket message. 0 for nats-ws, whose framing
	// nats.go hides.
	Batches uint64 `json:"batches,omitempty"`
	// Window runs from the first publish to the last delivery observed
	// (polled every 5 ms). DeliveredPerSec is Delivered / Window.
	Window          time.Duration `json:"window_ns"`
	DeliveredPerSec float64       `json:"delivered_per_sec"`

	// End-to-end latency: the client read the frame, minus the publisher
	// handed the message to nats.go.
	LatencyP50 time.Duration `json:"latency_p50_ns"`
	LatencyP90 time.Duration `json:"latency_p90_ns"`
	LatencyP99 time.Duration `json:"latency_p99_ns"`
	LatencyMax time.Duration `json:"latency_max_ns"`

	// Gaps counts messages announced dropped by gap notices (StreamHub,
	// drop-oldest). Conflated counts sequence jumps no gap notice
	// announced: conflation under keep-latest on StreamHub, silent loss on
	// nats-ws. Duplicates counts sequences received twice or out of order.
	// Bad counts frames or payloads that could not be read.
	Gaps       uint64 `json:"gaps"`
	Conflated  uint64 `json:"conflated"`
	Duplicates uint64 `json:"duplicates"`
	Bad        uint64 `json:"bad"`
	// Disconnected counts clients that lost their connection during the
	// run; DisconnectSample is one of their reasons. SlowConsumers counts
	// the slow-consumer errors nats.go reported (nats-ws only).
	Disconnected     int    `json:"disconnected"`
	DisconnectSample string `json:"disconnect_sample,omitempty"`
	SlowConsumers    uint64 `json:"slow_consumers,omitempty"`

	// BrokerCPU is the broker process's CPU time over the measured window
	// (first publish to the end of the drain); 0 when its PID was not
	// given. When BrokerInProcess, the broker ran in this process and the
	// figure includes the load tool's own work.
	BrokerPID       int           `json:"broker_pid,omitempty"`
	BrokerInProcess bool          `json:"broker_in_process,omitempty"`
	BrokerCPU       time.Duration `json:"broker_cpu_ns"`
	// BrokerCPUPerDelivery is BrokerCPU / Delivered, in microseconds;
	// DeliveriesPerBrokerCPUSecond its inverse.
	BrokerCPUPerDelivery         float64 `json:"broker_cpu_us_per_delivery"`
	DeliveriesPerBrokerCPUSecond float64 `json:"deliveries_per_broker_cpu_second"`
	// BrokerRSSBefore is the broker's resident memory (VmRSS) before the
	// clients connected, BrokerRSSIdle once all were connected and
	// subscribed and had received their warm-up messages, 2 s later, just
	// before publishing; IdleBytesPerClient is the difference divided by
	// Clients. 0 when the broker's PID was not given or it runs
	// in-process.
	BrokerRSSBefore    int64 `json:"broker_rss_before_bytes,omitempty"`
	BrokerRSSIdle      int64 `json:"broker_rss_idle_bytes,omitempty"`
	IdleBytesPerClient int64 `json:"idle_bytes_per_client,omitempty"`

	// ToolCPU is this process's CPU time over the same window: the
	// publisher and every client. ToolCPUPerDelivery in microseconds.
	ToolCPU            time.Duration `json:"tool_cpu_ns"`
	ToolCPUPerDelivery float64       `json:"tool_cpu_us_per_delivery"`
}

// Missing returns the expected deliveries that did not arrive, for any
// reason (gaps, conflation, loss, disconnection).
func (r Result) Missing() uint64 {
	if r.Delivered >= r.Expected {
		return 0
	}
	return r.Expected - r.Delivered
}

// PublishedPerSec is the rate the publisher achieved: Published over
// PublishTime. Below Rate, the broker held the publisher back.
func (r Result) PublishedPerSec() float64 {
	if r.PublishTime <= 0 {
		return 0
	}
	return float64(r.Published) / r.PublishTime.Seconds()
}

// Name is a short label: target and encoding.
func (r Result) Name() string {
	if r.Target != TargetStreamHub.String() {
		return r.Target
	}
	return r.Target + "/" + r.Encoding
}

// WriteTable writes results as an aligned text table, one row per result.
func WriteTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tclients\trate/s\tpublished\tpub/s\tdelivered\tmissing\tdelivered/s\tev/batch\tp50\tp90\tp99\tmax\tbroker CPU s\tbroker µs/deliv\tdeliv/broker CPU-s\tidle KiB/client\ttool CPU s\tgaps\tconflated\tdisconn\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%d\t%.0f\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%d\t%d\t%d\t\n",
			r.Name(), r.Clients, r.Rate, r.Published, r.PublishedPerSec(), r.Delivered, r.Missing(), r.DeliveredPerSec, perBatch(r),
			fmtLatency(r.LatencyP50), fmtLatency(r.LatencyP90), fmtLatency(r.LatencyP99), fmtLatency(r.LatencyMax),
			cpuCell(r, fmt.Sprintf("%.2f", r.BrokerCPU.Seconds())),
			cpuCell(r, fmt.Sprintf("%.2f", r.BrokerCPUPerDelivery)),
			cpuCell(r, fmt.Sprintf("%.0f", r.DeliveriesPerBrokerCPUSecond)),
			memCell(r),
			r.ToolCPU.Seconds(), r.Gaps, r.Conflated, r.Disconnected)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("loadgen: write table: %w", err)
	}
	var notes []string
	for _, r := range results {
		if r.BrokerInProcess {
			notes = append(notes, r.Name()+": broker ran in-process; its CPU includes the load tool's")
		}
		if r.PublisherNote != "" {
			notes = append(notes, r.Name()+": "+r.PublisherNote)
		}
		if r.DisconnectSample != "" {
			notes = append(notes, r.Name()+": a disconnect: "+r.DisconnectSample)
		}
	}
	for _, n := range notes {
		if _, err := fmt.Fprintln(w, "note:", n); err != nil {
			return fmt.Errorf("loadgen: write table: %w", err)
		}
	}
	return nil
}

func perBatch(r Result) string {
	if r.Batches == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(r.Delivered)/float64(r.Batches))
}

func cpuCell(r Result, v string) string {
	if r.BrokerPID == 0 {
		return "-"
	}
	return v
}

func memCell(r Result) string {
	if r.BrokerRSSIdle == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(r.IdleBytesPerClient)/1024)
}

// fmtLatency prints a latency in µs below 1 ms, in ms above.
func fmtLatency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/1e3)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.1fms", float64(d)/1e6)
}
