package fanout

import (
	"fmt"
	"strings"
)

// Policy says what happens to messages when a client's queue is full. It is
// named after what happens to the message.
type Policy uint8

const (
	// PolicyDefault (the zero value) means "use the default configured for
	// the message's subject prefix".
	PolicyDefault Policy = iota
	// KeepLatest conflates: per client and subject only the newest undelivered
	// message is kept; superseded ones are counted as conflated.
	KeepLatest
	// DropOldest keeps a bounded FIFO; when full the oldest messages are
	// dropped and the client receives a gap notice with the exact range.
	DropOldest
	// Disconnect closes the client as a slow consumer when its queue is full.
	Disconnect
)

// String returns the policy's name, the same as the wire's (see the
// gateway, which maps protocol.Policy to Policy).
func (p Policy) String() string {
	switch p {
	case PolicyDefault:
		return "default"
	case KeepLatest:
		return "keep-latest"
	case DropOldest:
		return "drop-oldest"
	case Disconnect:
		return "disconnect"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// PrefixPolicy maps messages whose subject starts with Prefix to Policy.
type PrefixPolicy struct {
	Prefix string
	Policy Policy
}

// DefaultPrefixPolicies are used when Config.PrefixPolicies is nil.
var DefaultPrefixPolicies = []PrefixPolicy{
	{Prefix: "ticks.", Policy: KeepLatest},
	{Prefix: "chain.", Policy: DropOldest},
	{Prefix: "jobs.", Policy: KeepLatest},
}

// policyFor returns the policy of the longest matching prefix, or fallback.
func policyFor(prefixes []PrefixPolicy, subject string, fallback Policy) Policy {
	best, bestLen := fallback, -1
	for _, pp := range prefixes {
		if len(pp.Prefix) > bestLen && strings.HasPrefix(subject, pp.Prefix) {
			best, bestLen = pp.Policy, len(pp.Prefix)
		}
	}
	return best
}
