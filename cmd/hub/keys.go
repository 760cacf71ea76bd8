package main

import (
	"context"
	"io"

	"github.com/streamhub/streamhub/internal/keycmd"
)

func keys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return keycmd.Run(ctx, args, getenv, stdout, stderr)
}
