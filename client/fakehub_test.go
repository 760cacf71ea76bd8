package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/streamhub/streamhub/internal/protocol"
)

// fakeHub is a scripted hub over a real WebSocket listener, for what a real
// hub cannot be made to do on cue: fall silent, answer a resume, close
// with a chosen code, or warn that a token expires. It speaks JSON; the
// test drives each accepted connection.
type fakeHub struct {
	t     testing.TB
	srv   *httptest.Server
	conns chan *fakeConn
}

type fakeConn struct {
	t    testing.TB
	ws   *websocket.Conn
	done chan struct{}
	last []byte // the frame of the last expected command
}

func newFakeHub(t testing.TB) *fakeHub {
	t.Helper()
	f := &fakeHub{t: t, conns: make(chan *fakeConn, 16)}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: protocol.Subprotocols()})
		if err != nil {
			return
		}
		ws.SetReadLimit(1 << 20)
		fc := &fakeConn{t: t, ws: ws, done: make(chan struct{})}
		f.conns <- fc
		<-fc.done
	}))
	t.Cleanup(func() {
		for {
			select {
			case fc := <-f.conns:
				fc.end()
				continue
			default:
			}
			break
		}
		f.srv.CloseClientConnections()
		f.srv.Close()
	})
	return f
}

func (f *fakeHub) url() string { return "ws" + f.srv.URL[len("http"):] + "/v1/ws" }

// accept waits for the next connection and sends it hello.
func (f *fakeHub) accept(h protocol.Hello) *fakeConn {
	f.t.Helper()
	select {
	case fc := <-f.conns:
		f.t.Cleanup(fc.end)
		fc.send(protocol.EncodeHello(protocol.EncodingJSON, h))
		return fc
	case <-time.After(10 * time.Second):
		f.t.Fatal("no connection to the fake hub")
		return nil
	}
}

func (fc *fakeConn) end() {
	select {
	case <-fc.done:
	default:
		close(fc.done)
		_ = fc.ws.CloseNow()
	}
}

func (fc *fakeConn) send(frame []byte) {
	fc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := fc.ws.Write(ctx, websocket.MessageText, frame); err != nil {
		fc.t.Fatalf("fake hub write: %v", err)
	}
}

// command reads the next client command other than pong, decoded with the
// hub's own decoder, and returns it with its frame.
func (fc *fakeConn) command() (protocol.Command, []byte) {
	fc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, frame, err := fc.ws.Read(ctx)
		if err != nil {
			fc.t.Fatalf("fake hub read: %v", err)
		}
		cmd, perr := protocol.DecodeCommand(protocol.EncodingJSON, frame)
		if perr != nil {
			fc.t.Fatalf("fake hub: the client sent %s: %v", frame, perr)
		}
		if cmd.Op != protocol.OpPong {
			return cmd, frame
		}
	}
}

// expect reads the next command and checks its op.
func (fc *fakeConn) expect(op protocol.Op) protocol.Command {
	fc.t.Helper()
	cmd, frame := fc.command()
	if cmd.Op != op {
		fc.t.Fatalf("fake hub: got %s, want %s", frame, op)
	}
	fc.last = frame
	return cmd
}

func (fc *fakeConn) ok(cmd protocol.Command) {
	fc.send(protocol.EncodeOK(protocol.EncodingJSON, cmd.ID, cmd.HasID))
}

func (fc *fakeConn) close(code protocol.CloseCode) {
	_ = fc.ws.Close(websocket.StatusCode(code), code.String())
}

// batch sends events (subject, epoch, seq) with a small JSON payload.
func (fc *fakeConn) batch(evs ...protocol.Event) {
	fc.t.Helper()
	b := []byte(`{"op":"batch","sent":` + strconv.FormatInt(time.Now().UnixMilli(), 10) + `,"events":[`)
	for i, ev := range evs {
		if ev.Data == nil {
			ev.Data = []byte(`{"seq":` + strconv.FormatUint(ev.Seq, 10) + `}`)
		}
		frames, err := protocol.EncodeEvent(ev)
		if err != nil {
			fc.t.Fatal(err)
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, frames[protocol.EncodingJSON]...)
	}
	fc.send(append(b, "]}"...))
}

func hello() protocol.Hello {
	return protocol.Hello{Session: "s_fake", Limits: protocol.Limits{MaxSubscriptions: 128, MaxFrameBytes: 4096}}
}
