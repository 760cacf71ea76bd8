package loadgen

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ErrNotLoopback is returned for a target address that is not on this
// machine. The load tool opens thousands of connections and publishes at
// full speed: pointed at another host by mistake, it is an attack.
var ErrNotLoopback = errors.New("loadgen: refusing a non-loopback target")

// CheckLoopback accepts a URL (ws://, wss://, nats://, http://…) or a bare
// host:port whose host is a loopback IP address (127.0.0.0/8, ::1) or
// "localhost", and returns an error wrapping ErrNotLoopback for anything
// else. Host names other than localhost are refused without resolving
// them: a name that resolves to loopback today may not tomorrow.
func CheckLoopback(target string) error {
	host, err := hostOf(target)
	if err != nil {
		return fmt.Errorf("%w: %q: %w", ErrNotLoopback, target, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: %q is not 127.0.0.1, ::1 or localhost (the load tool only runs against brokers on this machine)", ErrNotLoopback, target)
}

func hostOf(target string) (string, error) {
	if target == "" {
		return "", errors.New("empty address")
	}
	if strings.Contains(target, "://") {
		u, err := url.Parse(target)
		if err != nil {
			return "", err
		}
		if u.Host == "" {
			return "", errors.New("no host")
		}
		return strings.ToLower(u.Hostname()), nil
	}
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return "", err
	}
	return strings.ToLower(host), nil
}

// PerSourceAddr is how many clients dial from one loopback source
// address by default (Config.ClientsPerSourceAddr). Each TCP connection a client makes from a given source address
// takes one of its ephemeral ports (Linux's default range, 32768–60999,
// has 28,232), so past this many clients a run spreads them over
// 127.0.0.1, 127.0.0.2, … (Linux routes all of 127.0.0.0/8 to the
// loopback interface), leaving ports for everything else on the machine.
const PerSourceAddr = 20_000

// SourceAddrs returns how many loopback source addresses a run of n
// clients uses at per clients per address: ceil(n / per), at least 1.
func SourceAddrs(n, per int) int { return max(1, (n+per-1)/per) }

// sourceIP returns the address client i of n dials from: nil (the
// kernel's choice) when one address is enough, else 127.0.0.(1 + i mod
// SourceAddrs(n, per)), so the clients spread evenly.
func sourceIP(i, n, per int) net.IP {
	k := SourceAddrs(n, per)
	if k == 1 {
		return nil
	}
	return net.IPv4(127, 0, 0, byte(1+i%k))
}

// sourceDialer returns a dialer bound to source address ip (nil: any),
// with timeout.
func sourceDialer(ip net.IP, timeout time.Duration) *net.Dialer {
	d := &net.Dialer{Timeout: timeout}
	if ip != nil {
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return d
}

// sourceClient returns an HTTP client for a WebSocket dial from source
// address ip, or nil (the default client) when ip is nil. The connection
// is hijacked by the WebSocket, so nothing is pooled.
func sourceClient(ip net.IP) *http.Client {
	if ip == nil {
		return nil
	}
	d := sourceDialer(ip, controlTimeout)
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}
