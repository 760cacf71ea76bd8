package protocol

import (
	"fmt"
	"math"
)

// EncodeCommand encodes a client command in encoding enc, for the Go client
// and tests. It writes only the keys that are set: id when HasID, subjects
// when any, policy when not PolicyDefault, max_rate when > 0, snapshot when
// true, token when not empty and resume when any. It checks only what would
// make the frame unencodable (an empty op, a non-finite or negative
// max_rate, an unknown encoding); the hub validates the rest.
func EncodeCommand(enc Encoding, c Command) ([]byte, error) {
	if enc >= NumEncodings {
		return nil, fmt.Errorf("protocol: unknown encoding %v", enc)
	}
	if c.Op == "" {
		return nil, fmt.Errorf("protocol: command without op")
	}
	if math.IsNaN(c.MaxRate) || math.IsInf(c.MaxRate, 0) || c.MaxRate < 0 {
		return nil, fmt.Errorf("protocol: max_rate %v is not a finite number >= 0", c.MaxRate)
	}
	n := 1
	for _, set := range [...]bool{c.HasID, len(c.Subjects) > 0, c.Policy != PolicyDefault,
		c.MaxRate > 0, c.Snapshot, c.Token != "", len(c.Resume) > 0} {
		if set {
			n++
		}
	}
	w := wr{b: make([]byte, 0, 64), mp: enc == EncodingMsgpack}
	w.obj(n)
	w.key("op")
	w.str(string(c.Op))
	if c.HasID {
		w.key("id")
		w.uint(c.ID)
	}
	if len(c.Subjects) > 0 {
		w.key("subjects")
		w.arr(len(c.Subjects))
		for _, s := range c.Subjects {
			w.str(s)
		}
		w.endArr()
	}
	if c.Policy != PolicyDefault {
		w.key("policy")
		w.str(c.Policy.String())
	}
	if c.MaxRate > 0 {
		w.key("max_rate")
		w.float(c.MaxRate)
	}
	if c.Snapshot {
		w.key("snapshot")
		w.boolean(true)
	}
	if c.Token != "" {
		w.key("token")
		w.str(c.Token)
	}
	if len(c.Resume) > 0 {
		w.key("resume")
		w.arr(len(c.Resume))
		for _, p := range c.Resume {
			w.obj(3)
			w.key("subject")
			w.str(p.Subject)
			w.key("epoch")
			w.uint(p.Epoch)
			w.key("seq")
			w.uint(p.Seq)
			w.endObj()
		}
		w.endArr()
	}
	w.endObj()
	return w.b, nil
}
