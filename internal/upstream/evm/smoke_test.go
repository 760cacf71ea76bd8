package evm

import "testing"

func TestSimSmoke(t *testing.T) {
	s := startSim(t, 2)
	s.transfer(0, 1, 5)
	s.Commit()
	t.Log(s.wsURL)
}
