package protocol

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func TestEncodeEventJSONFrame(t *testing.T) {
	ev := Event{Subject: "ticks.coinbase.BTC-USD", Epoch: 1732712000, Seq: 42, TS: 1732712345600, Ingest: 1732712345610,
		Data: []byte(`{"price":"97000.5","size":0.25}`)}
	frames, err := EncodeEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"subject":"ticks.coinbase.BTC-USD","epoch":1732712000,"seq":42,"ts":1732712345600,"ingest":1732712345610,"data":{"price":"97000.5","size":0.25}}`
	if got := string(frames[EncodingJSON]); got != want {
		t.Errorf("JSON frame\n got %s\nwant %s", got, want)
	}
	ev.Critical = true
	frames, err = EncodeEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(frames[EncodingJSON]), `"ingest":1732712345610,"critical":true,"data":`) {
		t.Errorf("critical frame %s", frames[EncodingJSON])
	}
	var m map[string]any
	if err := msgpack.Unmarshal(frames[EncodingMsgpack], &m); err != nil {
		t.Fatal(err)
	}
	if m["critical"] != true {
		t.Errorf("msgpack critical = %v", m["critical"])
	}
}

// TestEncodeEventSameValuesInBothEncodings decodes both frames with the
// reference libraries (encoding/json, msgpack/v5) and compares the values.
func TestEncodeEventSameValuesInBothEncodings(t *testing.T) {
	datas := []string{
		`{"price":97000.5,"size":1,"side":"buy","id":9007199254740993,"neg":-42,"min":-9223372036854775808,"max":18446744073709551615}`,
		`{"big":18446744073709551616,"exp":1e3,"frac":0.1,"negexp":-2.5E-7,"zero":0,"negzero":-0,"f":1.0}`,
		`{"s":"caf\u00e9 \"q\" \\ \n \ud83d\ude00","raw":"café ✓","empty":"","long":"` + strings.Repeat("x", 300) + `"}`,
		`{"a":[],"o":{},"n":null,"t":true,"f":false,"nest":[[1,[2,{"k":[3]}]],{"x":{"y":{"z":null}}}]}`,
		` { "ws" : [ 1 , 2 ] , "k" : "v" } `,
		`[1,"two",3.5]`,
		`"just a string"`,
		`12`,
		`{"many":[` + strings.Repeat(`1,`, 70000) + `1]}`,
		`{` + manyKeys(20) + `}`,
	}
	for _, d := range datas {
		ev := Event{Subject: "chain.eth.block", Epoch: 1 << 33, Seq: math.MaxUint64, TS: -5, Ingest: 1 << 50, Data: []byte(d)}
		frames, err := EncodeEvent(ev)
		if err != nil {
			t.Fatalf("EncodeEvent(%.60s): %v", d, err)
		}
		if !json.Valid(frames[EncodingJSON]) {
			t.Fatalf("JSON frame is not valid JSON: %.80s", frames[EncodingJSON])
		}
		if err := CheckMsgpack(frames[EncodingMsgpack], MaxDataDepth+1, len(frames[EncodingMsgpack])); err != nil {
			t.Fatalf("msgpack frame fails the guard: %v", err)
		}
		j := decodeAny(t, EncodingJSON, frames[EncodingJSON])
		m := decodeAny(t, EncodingMsgpack, frames[EncodingMsgpack])
		if !deepEqual(j, m) {
			t.Errorf("data %.60s:\nJSON    %.300v\nmsgpack %.300v", d, j, m)
		}
	}
}

func manyKeys(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + strings.Repeat("x", i) + `":` + strings.Repeat("1", i%5+1))
	}
	return b.String()
}

func TestEncodeEventNumberTypes(t *testing.T) {
	frames, err := EncodeEvent(Event{Subject: "a.b", Data: []byte(`{"i":-1,"u":18446744073709551615,"f":1.5,"e":2e2,"d":1.0,"h":9007199254740993}`)})
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Data map[string]any `msgpack:"data"`
	}
	if err := msgpack.Unmarshal(frames[EncodingMsgpack], &ev); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"i": int8(-1), "u": uint64(math.MaxUint64), "f": 1.5, "e": 200.0, "d": 1.0, "h": uint64(9007199254740993)}
	for k, v := range want {
		if ev.Data[k] != v {
			t.Errorf("data.%s = %T(%v), want %T(%v)", k, ev.Data[k], ev.Data[k], v, v)
		}
	}
}

func TestEncodeEventRejects(t *testing.T) {
	deep := strings.Repeat("[", MaxDataDepth+1) + strings.Repeat("]", MaxDataDepth+1)
	cases := map[string]Event{
		"empty data":       {Subject: "a.b"},
		"invalid JSON":     {Subject: "a.b", Data: []byte(`{"a":}`)},
		"trailing":         {Subject: "a.b", Data: []byte(`{} {}`)},
		"invalid UTF-8":    {Subject: "a.b", Data: []byte("{\"a\":\"\xff\"}")},
		"too deep":         {Subject: "a.b", Data: []byte(deep)},
		"float overflow":   {Subject: "a.b", Data: []byte(`{"a":1e400}`)},
		"wildcard subject": {Subject: "a.*", Data: []byte(`{}`)},
		"empty subject":    {Data: []byte(`{}`)},
	}
	for name, ev := range cases {
		if _, err := EncodeEvent(ev); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: EncodeEvent = %v, want ErrInvalidEvent", name, err)
		}
	}
	ok := strings.Repeat("[", MaxDataDepth) + strings.Repeat("]", MaxDataDepth)
	if _, err := EncodeEvent(Event{Subject: "a.b", Data: []byte(ok)}); err != nil {
		t.Errorf("depth %d refused: %v", MaxDataDepth, err)
	}
}

func TestMsgpackToJSON(t *testing.T) {
	frames, err := EncodeEvent(Event{Subject: "a.b", Data: []byte(`{"x":[1,-2,2.5,"s\u2028",null,true,{"y":{}}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := DecodeServer(EncodingMsgpack, AppendBatch(nil, EncodingMsgpack, 1, nil, [][]byte{frames[EncodingMsgpack]}))
	if err != nil {
		t.Fatal(err)
	}
	got, err := msg.Events[0].DataJSON(EncodingMsgpack)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"x":[1,-2,2.5,"s\u2028",null,true,{"y":{}}]}`; string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// Forms without JSON equivalents fail; binary becomes base64.
	nan, _ := msgpack.Marshal(math.NaN())
	ext, _ := msgpack.Marshal(msgpackTime())
	intKey := []byte{0x81, 0x01, 0x02}
	for name, b := range map[string][]byte{"NaN": nan, "ext": ext, "int key": intKey, "trailing": {0xc0, 0xc0}} {
		if _, err := MsgpackToJSON(nil, b); err == nil {
			t.Errorf("%s: converted", name)
		}
	}
	bin, _ := msgpack.Marshal([]byte{0xff, 0x00})
	if got, err := MsgpackToJSON(nil, bin); err != nil || string(got) != `"/wA="` {
		t.Errorf("bin: %s, %v", got, err)
	}
	f32, _ := msgpack.Marshal(float32(0.1))
	if got, err := MsgpackToJSON(nil, f32); err != nil || string(got) != `0.1` {
		t.Errorf("float32: %s, %v", got, err)
	}
}
