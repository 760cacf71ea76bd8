package evm

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/streamhub/streamhub/internal/upstream/evm/evmtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, evmtest.IgnoreGoroutines()...) }
