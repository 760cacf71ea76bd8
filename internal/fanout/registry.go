package fanout

import (
	"slices"
	"sync"

	"github.com/streamhub/streamhub/internal/subject"
)

// registry indexes subscriptions by pattern, in a token trie for matching a
// subject against every pattern, and in a map for delivering to the
// subscribers of one pattern. Matches are cached per subject.
//
// Subscriber slices (patternEntry.subs and cached results) are never
// modified in place once published to readers except by appending within
// capacity, which readers holding a shorter slice never see; removal copies.
type registry struct {
	mu       sync.RWMutex
	root     node
	patterns map[string]*patternEntry
	cache    map[string][]*subscription
	cacheMax int
}

type node struct {
	next map[string]*node
	star *node // the "*" child
	gt   *node // the ">" child; patterns ending in ">" live here
	pe   *patternEntry
}

type patternEntry struct {
	pattern string
	subs    []*subscription
}

func newRegistry(cacheMax int) *registry {
	return &registry{
		patterns: make(map[string]*patternEntry),
		cache:    make(map[string][]*subscription),
		cacheMax: cacheMax,
	}
}

// add indexes s and reports whether its pattern had no subscriber before.
func (r *registry) add(s *subscription) (first bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pe := r.patterns[s.pattern]
	if pe == nil {
		pe = &patternEntry{pattern: s.pattern}
		r.patterns[s.pattern] = pe
		r.nodeFor(s.pattern).pe = pe
		first = true
	}
	pe.subs = append(pe.subs, s)
	r.invalidate()
	return first
}

// remove unindexes s and reports whether its pattern has no subscriber left.
func (r *registry) remove(s *subscription) (last bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pe := r.patterns[s.pattern]
	if pe == nil {
		return false
	}
	subs := make([]*subscription, 0, len(pe.subs))
	for _, x := range pe.subs {
		if x != s {
			subs = append(subs, x)
		}
	}
	pe.subs = subs
	r.invalidate()
	if len(subs) > 0 {
		return false
	}
	delete(r.patterns, s.pattern)
	r.prune(s.pattern)
	return true
}

// replace puts s where old was, in one step: no reader sees both or
// neither. Both have the same pattern.
func (r *registry) replace(old, s *subscription) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pe := r.patterns[old.pattern]
	if pe == nil {
		return
	}
	subs := make([]*subscription, len(pe.subs))
	for i, x := range pe.subs {
		if x == old {
			x = s
		}
		subs[i] = x
	}
	pe.subs = subs
	r.invalidate()
}

func (r *registry) invalidate() {
	if len(r.cache) > 0 {
		r.cache = make(map[string][]*subscription)
	}
}

// nodeFor returns the trie node for pattern, creating the path.
func (r *registry) nodeFor(pattern string) *node {
	n := &r.root
	for rest, more := pattern, true; more; {
		var tok string
		tok, rest, more = subject.Cut(rest)
		switch tok {
		case "*":
			if n.star == nil {
				n.star = &node{}
			}
			n = n.star
		case ">":
			if n.gt == nil {
				n.gt = &node{}
			}
			n = n.gt
		default:
			c := n.next[tok]
			if c == nil {
				if n.next == nil {
					n.next = make(map[string]*node)
				}
				c = &node{}
				n.next[tok] = c
			}
			n = c
		}
	}
	return n
}

// prune removes the now empty path of pattern from the trie.
func (r *registry) prune(pattern string) {
	var path [subject.MaxTokens + 1]*node
	var toks [subject.MaxTokens]string
	n, depth := &r.root, 0
	for rest, more := pattern, true; more && n != nil; depth++ {
		var tok string
		tok, rest, more = subject.Cut(rest)
		path[depth], toks[depth] = n, tok
		switch tok {
		case "*":
			n = n.star
		case ">":
			n = n.gt
		default:
			n = n.next[tok]
		}
	}
	if n == nil {
		return
	}
	n.pe = nil
	for i := depth - 1; i >= 0; i-- {
		if n.pe != nil || n.star != nil || n.gt != nil || len(n.next) > 0 {
			return
		}
		parent := path[i]
		switch toks[i] {
		case "*":
			parent.star = nil
		case ">":
			parent.gt = nil
		default:
			delete(parent.next, toks[i])
		}
		n = parent
	}
}

// match returns every subscription whose pattern matches the literal
// subject. The result is shared and must not be modified.
func (r *registry) match(subject string) []*subscription {
	r.mu.RLock()
	subs, ok := r.cache[subject]
	r.mu.RUnlock()
	if ok {
		return subs
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if subs, ok := r.cache[subject]; ok {
		return subs
	}
	subs = collect(&r.root, subject, nil)
	if len(r.cache) >= r.cacheMax {
		r.cache = make(map[string][]*subscription)
	}
	r.cache[subject] = subs
	return subs
}

func collect(n *node, subj string, out []*subscription) []*subscription {
	tok, rest, more := subject.Cut(subj)
	if n.gt != nil && n.gt.pe != nil {
		out = append(out, n.gt.pe.subs...)
	}
	if c := n.next[tok]; c != nil {
		out = collectNext(c, rest, more, out)
	}
	if n.star != nil {
		out = collectNext(n.star, rest, more, out)
	}
	return out
}

func collectNext(c *node, rest string, more bool, out []*subscription) []*subscription {
	if !more {
		if c.pe != nil {
			out = append(out, c.pe.subs...)
		}
		return out
	}
	return collect(c, rest, out)
}

// subscribers returns the subscriptions of exactly pattern. The result is
// shared and must not be modified.
func (r *registry) subscribers(pattern string) []*subscription {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if pe := r.patterns[pattern]; pe != nil {
		return pe.subs
	}
	return nil
}

// numPatterns returns how many distinct patterns have subscribers.
func (r *registry) numPatterns() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.patterns)
}

// patternList returns the patterns that have subscribers, sorted.
func (r *registry) patternList() []string {
	r.mu.RLock()
	out := make([]string, 0, len(r.patterns))
	for p := range r.patterns {
		out = append(out, p)
	}
	r.mu.RUnlock()
	slices.Sort(out)
	return out
}
