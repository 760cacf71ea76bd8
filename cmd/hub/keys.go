package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/streamhub/streamhub/internal/keycmd"
)

// keys runs `hub keys …`; its mistakes in args are usage errors (exit 2).
func keys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	err := keycmd.Run(ctx, args, getenv, stdout, stderr)
	if err == nil {
		return nil
	}
	err = fmt.Errorf("keys: %w", err)
	var ue *keycmd.UsageError
	if errors.As(err, &ue) {
		return usageError{err}
	}
	return err
}
