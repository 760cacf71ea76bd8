package auth

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestOriginAllowed(t *testing.T) {
	hub := []string{"https://hub.example.com"}
	local := []string{"http://127.0.0.1:8080", "http://localhost:8080"}
	apps := []string{"https://app.example.com", "http://localhost:5173", "not a url", "https://*.example.org"}
	for _, tc := range []struct {
		origin        string
		public, allow []string
		want          bool
	}{
		{"", nil, nil, true}, // not a browser
		{"https://hub.example.com", hub, nil, true},
		{"https://HUB.example.com", hub, nil, true},
		{"https://hub.example.com:443", hub, nil, true},
		{"http://hub.example.com", hub, nil, false},       // another scheme is another origin
		{"https://hub.example.com:8443", hub, nil, false}, // and so is another port
		{"http://127.0.0.1:8080", local, nil, true},
		{"http://localhost:8080", local, nil, true},
		{"https://127.0.0.1:8080", local, nil, false}, // https on an http hub
		{"http://127.0.0.1:8081", local, nil, false},
		{"http://rebound.example:8080", local, nil, false}, // DNS rebinding: its own origin matches nothing
		{"https://evil.example.com", hub, nil, false},
		{"https://hub.example.com.evil.com", hub, nil, false},
		{"null", hub, nil, false},
		{"file://", hub, nil, false},
		{"ws://hub.example.com", hub, nil, false},
		{"https://hub.example.com/path", hub, nil, false},
		{"https://user@hub.example.com", hub, nil, false},
		{"https://app.example.com", hub, nil, false},
		{"https://app.example.com", hub, apps, true},
		{"https://app.example.com:443", hub, apps, true},
		{"http://app.example.com", hub, apps, false}, // scheme differs
		{"https://app.example.com:8443", hub, apps, false},
		{"http://localhost:5173", hub, apps, true},
		{"http://localhost:5174", hub, apps, false},
		{"https://x.example.org", hub, apps, false}, // no partial wildcards
		{"https://anything.test", nil, []string{"*"}, true},
		{"null", nil, []string{"*"}, false},
		{"https://hub.example.com", hub, []string{"https://app.example.com"}, true},
		{"https://hub.example.com", nil, nil, false}, // nothing configured: only agents
		{"*", []string{"*"}, nil, false},             // "*" is not an origin, and means nothing in public
	} {
		if got := OriginAllowed(tc.origin, tc.public, tc.allow); got != tc.want {
			t.Errorf("OriginAllowed(%q, %q, %q) = %v, want %v", tc.origin, tc.public, tc.allow, got, tc.want)
		}
	}
}

func TestValidOrigin(t *testing.T) {
	for o, want := range map[string]bool{
		"http://127.0.0.1:8080": true, "https://hub.example.com": true, "http://[::1]:8080": true,
		"hub.example.com": false, "https://hub.example.com/app": false, "ws://x": false, "*": false, "": false,
	} {
		if got := ValidOrigin(o); got != want {
			t.Errorf("ValidOrigin(%q) = %v, want %v", o, got, want)
		}
	}
}

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, tc := range []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"direct client", "203.0.113.9:5000", nil, "203.0.113.9"},
		{"direct client ignores XFF", "203.0.113.9:5000", []string{"1.2.3.4"}, "203.0.113.9"},
		{"trusted proxy", "10.0.0.2:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"spoofed left entry", "10.0.0.2:5000", []string{"1.1.1.1, 198.51.100.1"}, "198.51.100.1"},
		{"two trusted hops", "10.0.0.2:5000", []string{"1.1.1.1, 198.51.100.1, 10.0.0.3"}, "198.51.100.1"},
		{"several header lines", "10.0.0.2:5000", []string{"1.1.1.1", "198.51.100.1"}, "198.51.100.1"},
		{"trusted proxy without XFF", "10.0.0.2:5000", nil, "10.0.0.2"},
		{"all hops trusted", "10.0.0.2:5000", []string{"10.9.9.9"}, "10.9.9.9"},
		{"garbage hop from a trusted proxy", "10.0.0.2:5000", []string{"1.1.1.1, bogus"}, "invalid IP"},
		{"hop with port", "10.0.0.2:5000", []string{"198.51.100.1:4711"}, "198.51.100.1"},
		{"IPv6 proxy and client", "[fd00::1]:443", []string{"2001:db8::5"}, "2001:db8::5"},
		{"bracketed IPv6 hop", "[fd00::1]:443", []string{"[2001:db8::5]"}, "2001:db8::5"},
		{"mapped IPv4 peer", "[::ffff:203.0.113.9]:80", nil, "203.0.113.9"},
		{"unparseable peer", "pipe", nil, "invalid IP"},
	} {
		r := httptest.NewRequest("GET", "/v1/ws", nil)
		r.RemoteAddr = tc.remote
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := ClientIP(r, trusted).String(); got != tc.want {
			t.Errorf("%s: ClientIP = %s, want %s", tc.name, got, tc.want)
		}
	}
}
