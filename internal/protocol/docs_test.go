package protocol

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
)

const docsPath = "../../docs/protocol.md"

func readDocs(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatalf("docs/protocol.md: %v", err)
	}
	return string(b)
}

// TestDocsCloseCodeTable checks that docs/protocol.md has one row per close
// code of the table, with the reason name and a reconnect column that agrees
// with CloseCode.Reconnect.
func TestDocsCloseCodeTable(t *testing.T) {
	docs := readDocs(t)
	for _, c := range CloseCodes() {
		prefix := fmt.Sprintf("| %d | %s | ", c, c)
		var row string
		for _, line := range strings.Split(docs, "\n") {
			if strings.HasPrefix(line, prefix) {
				row = line
			}
		}
		if row == "" {
			t.Errorf("docs: no close-code row starting %q", prefix)
			continue
		}
		cells := strings.Split(strings.Trim(row, "| "), " | ")
		reconnect := cells[len(cells)-1]
		if c.Reconnect() != strings.HasPrefix(reconnect, "yes") {
			t.Errorf("docs row %q says reconnect %q, code says %v", row, reconnect, c.Reconnect())
		}
	}
}

// TestDocsErrorCodeTable checks that every error code has a row.
func TestDocsErrorCodeTable(t *testing.T) {
	docs := readDocs(t)
	for _, c := range ErrorCodes() {
		if !strings.Contains(docs, "\n| `"+string(c)+"` | ") {
			t.Errorf("docs: no row for error code %s", c)
		}
	}
}

// TestDocsExampleSession replays the JSON example session: every client
// frame is decoded as a command, every hub frame as a server message, and
// when the hub's line after a command is an error or ok, it is byte for
// byte what the protocol package answers.
func TestDocsExampleSession(t *testing.T) {
	docs := readDocs(t)
	start := strings.Index(docs, "## Example session (JSON)")
	if start < 0 {
		t.Fatal("docs: no example session")
	}
	sc := bufio.NewScanner(strings.NewReader(docs[start:]))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<10)
	var lastCmd *Command
	var lastErr *Error
	lines := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") && lines > 0 {
			break
		}
		switch {
		case strings.HasPrefix(line, "→ "):
			frame := []byte(strings.TrimPrefix(line, "→ "))
			c, err := DecodeCommand(EncodingJSON, frame)
			lastCmd, lastErr = &c, err
		case strings.HasPrefix(line, "← "):
			frame := []byte(strings.TrimPrefix(line, "← "))
			m, err := DecodeServer(EncodingJSON, frame)
			if err != nil {
				t.Errorf("docs hub frame %s: %v", frame, err)
				continue
			}
			if lastCmd != nil && (m.Op == OpError || m.Op == OpOK) {
				want := EncodeOK(EncodingJSON, lastCmd.ID, lastCmd.HasID)
				if lastErr != nil {
					want = EncodeCommandError(EncodingJSON, *lastCmd, lastErr)
				}
				if !bytes.Equal(frame, want) {
					t.Errorf("docs answer\n %s\nthe code answers\n %s", frame, want)
				}
			}
			if m.Op == OpHello && !bytes.Equal(frame, EncodeHello(EncodingJSON, m.Hello)) {
				t.Errorf("docs hello is not what EncodeHello writes: %s", frame)
			}
			lastCmd, lastErr = nil, nil
		default:
			continue
		}
		lines++
	}
	if lines < 10 {
		t.Errorf("docs example session has only %d frames", lines)
	}
}
