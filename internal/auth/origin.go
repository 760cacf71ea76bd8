package auth

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// OriginAllowed decides whether a WebSocket upgrade carrying the Origin
// header origin may proceed, given the hub's own public origins (where its
// dashboard is served from) and the configured allowlist allow. It is the
// defence against cross-site WebSocket hijacking and DNS rebinding:
//
//   - An empty origin is allowed: browsers always send Origin on WebSocket
//     upgrades, so its absence means a non-browser client (an agent with a
//     key), which cannot be hijacked this way.
//   - An origin equal to one of public or one of allow, compared as
//     scheme, host and port (case-insensitively, default ports ignored), is
//     allowed. The request's Host header is never trusted: a page on a name
//     an attacker rebinds to the hub's address sends its own Origin, which
//     matches nothing configured.
//   - An entry "*" in allow allows every origin. It is never implied;
//     configure it only for hubs whose every client authenticates with a
//     token it fetched itself.
//   - There are no partial wildcards: "https://*.example.com" matches
//     nothing.
//   - Everything else, including "null" and origins that are not http(s)
//     URLs, is refused.
//
// It is a pure function, safe for concurrent use.
func OriginAllowed(origin string, public, allow []string) bool {
	if origin == "" {
		return true
	}
	scheme, ohost, ok := parseOrigin(origin)
	if !ok {
		return false
	}
	for _, a := range allow {
		if a == "*" {
			return true
		}
	}
	for _, list := range [][]string{public, allow} {
		for _, a := range list {
			if s, h, ok := parseOrigin(a); ok && s == scheme && h == ohost {
				return true
			}
		}
	}
	return false
}

// ValidOrigin reports whether o is a bare http(s) origin,
// "scheme://host[:port]", as OriginAllowed compares them.
func ValidOrigin(o string) bool {
	_, _, ok := parseOrigin(o)
	return ok
}

// parseOrigin splits an origin into its lower-case scheme and normalised
// host[:port]; ok is false for anything but a bare http(s) origin.
func parseOrigin(origin string) (scheme, host string, ok bool) {
	u, err := url.Parse(origin)
	if err != nil || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" ||
		(u.Path != "" && u.Path != "/") || u.Host == "" {
		return "", "", false
	}
	scheme = strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", "", false
	}
	return scheme, normalizeHost(scheme, u.Host), true
}

// normalizeHost lower-cases host[:port] and drops the scheme's default port.
func normalizeHost(scheme, host string) string {
	host = strings.ToLower(host)
	switch scheme {
	case "https":
		host = strings.TrimSuffix(host, ":443")
	case "http":
		host = strings.TrimSuffix(host, ":80")
	}
	return host
}

// ClientIP returns the address of the client behind r. The direct peer
// (r.RemoteAddr) is the answer unless it is inside one of the trusted proxy
// networks; only then is X-Forwarded-For read, from the right: each hop
// written by a trusted proxy is believed, and the first (rightmost) address
// that is not itself a trusted proxy is the client. When every hop is
// trusted, the leftmost is returned. An unparseable hop or peer gives the
// invalid netip.Addr{}, which no allowed network contains (fail closed).
// IPv4-mapped IPv6 addresses are unmapped.
//
// It is a pure function, safe for concurrent use.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer, ok := parseHostAddr(r.RemoteAddr)
	if !ok {
		return netip.Addr{}
	}
	if !inPrefixes(peer, trusted) {
		return peer
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHostAddr(strings.TrimSpace(hops[i]))
		if !ok {
			return netip.Addr{}
		}
		client = a
		if !inPrefixes(a, trusted) {
			return a
		}
	}
	return client
}

// parseHostAddr parses "ip", "ip:port" or "[ipv6]:port".
func parseHostAddr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// BearerCredential returns the credential of an "Authorization: Bearer
// <credential>" header (the scheme in any case), trimmed of spaces.
func BearerCredential(r *http.Request) (string, bool) {
	scheme, cred, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	cred = strings.TrimSpace(cred)
	if !ok || !strings.EqualFold(scheme, "Bearer") || cred == "" {
		return "", false
	}
	return cred, true
}
