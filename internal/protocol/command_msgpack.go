package protocol

import "fmt"

// decodeCommandMsgpack fills w from a msgpack command. The frame passes the
// guard first; after that every value's extent is known, so a mistyped value
// is skipped and decoding goes on, which lets the id be read even when
// another key is wrong. The first error is returned.
func decodeCommandMsgpack(frame []byte, w *wireCommand) *Error {
	if err := CheckMsgpack(frame, CommandMaxDepth, CommandMaxItems); err != nil {
		return WrapError(CodeBadRequest, "", err)
	}
	r := mpReader{b: frame}
	if r.isNil() {
		return nil // like JSON null: no keys at all
	}
	n, err := r.mapLen()
	if err != nil {
		return Errorf(CodeBadRequest, "a command must be a msgpack map")
	}
	var first *Error
	for i := 0; i < n; i++ {
		keyEnd, err := mpSkip(frame, r.off)
		if err != nil {
			return WrapError(CodeBadRequest, "", err) // unreachable after the guard
		}
		valEnd, err := mpSkip(frame, keyEnd)
		if err != nil {
			return WrapError(CodeBadRequest, "", err)
		}
		key, kerr := r.strBytes()
		if kerr != nil {
			if first == nil {
				first = Errorf(CodeBadRequest, "map key %d is not a string", i)
			}
		} else {
			// The value's reader ends at the value, so a field decoder can
			// neither read past it nor leave the outer reader mid-value.
			v := mpReader{b: frame[:valEnd], off: keyEnd}
			if ferr := w.decodeMsgpackField(string(key), &v); ferr != nil && first == nil {
				first = Errorf(CodeBadRequest, "%s: %v", key, ferr)
			}
		}
		r.off = valEnd
	}
	return first
}

// decodeMsgpackField decodes the value of one command key. Unknown keys are
// ignored; a nil value leaves the key absent.
func (w *wireCommand) decodeMsgpackField(key string, r *mpReader) error {
	switch key {
	case "op", "id", "subjects", "policy", "max_rate", "snapshot", "token", "resume":
	default:
		return nil
	}
	if r.isNil() {
		return nil
	}
	var err error
	switch key {
	case "op":
		var s string
		if s, err = r.str(); err == nil {
			w.Op = &s
		}
	case "id":
		var id uint64
		if id, err = r.uint(); err == nil {
			w.ID = commandID{v: id, set: true}
		} else {
			w.ID = commandID{bad: true}
		}
	case "subjects":
		w.Subjects, err = mpStrings(r)
	case "policy":
		var s string
		if s, err = r.str(); err == nil {
			w.Policy = &s
		}
	case "max_rate":
		var f float64
		if f, err = r.float(); err == nil {
			w.MaxRate = &f
		}
	case "snapshot":
		var v bool
		if v, err = r.boolean(); err == nil {
			w.Snapshot = &v
		}
	case "token":
		var s string
		if s, err = r.str(); err == nil {
			w.Token = &s
		}
	case "resume":
		w.Resume, err = mpResume(r)
	}
	return err
}

// mpStrings reads an array of strings. It rejects more than
// MaxSubjectsPerCommand before allocating.
func mpStrings(r *mpReader) ([]string, error) {
	n, err := r.arrayLen()
	if err != nil {
		return nil, err
	}
	if n > MaxSubjectsPerCommand {
		return nil, fmt.Errorf("%d elements, over the limit of %d", n, MaxSubjectsPerCommand)
	}
	ss := make([]string, n)
	for i := range ss {
		if ss[i], err = r.str(); err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
	}
	return ss, nil
}

// mpResume reads an array of resume positions.
func mpResume(r *mpReader) ([]ResumePosition, error) {
	n, err := r.arrayLen()
	if err != nil {
		return nil, err
	}
	if n > MaxSubjectsPerCommand {
		return nil, fmt.Errorf("%d positions, over the limit of %d", n, MaxSubjectsPerCommand)
	}
	ps := make([]ResumePosition, n)
	for i := range ps {
		if err := mpResumePosition(r, &ps[i]); err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
	}
	return ps, nil
}

func mpResumePosition(r *mpReader, p *ResumePosition) error {
	n, err := r.mapLen()
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		key, err := r.strBytes()
		if err != nil {
			return err
		}
		if r.isNil() {
			continue
		}
		switch string(key) {
		case "subject":
			p.Subject, err = r.str()
		case "epoch":
			p.Epoch, err = r.uint()
		case "seq":
			p.Seq, err = r.uint()
		default:
			r.off, err = mpSkip(r.b, r.off)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	return nil
}
