package loadgen

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
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
