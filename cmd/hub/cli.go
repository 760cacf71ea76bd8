package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Exit codes of the hub binary.
const (
	exitOK      = 0 // success, and help that was asked for
	exitFailure = 1 // the command could not do its job
	exitUsage   = 2 // a bad flag, argument or environment value, or an unknown command
)

// usageError marks a mistake in the command line or the environment, as
// opposed to a failure of the command itself: main exits 2 for it.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usageErrorf returns a usage error with a formatted message (%w allowed).
func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// asUsage marks err as a usage error; flag.ErrHelp stays itself (exit 0).
func asUsage(err error) error {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{err}
}

// exitCode maps what run returned to the process's exit code.
func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	}
	return exitFailure
}

// report prints err for a person, as one line on w ("hub: …"), and returns
// the exit code. Help that was asked for was printed already and is not an
// error.
func report(err error, w io.Writer) int {
	code := exitCode(err)
	if code != exitOK {
		fmt.Fprintln(w, "hub:", present(err))
	}
	return code
}

// internalPrefix matches the "pkg: " prefixes that errors of the internal
// packages (and of the Go client) carry (STYLE.md): useful in a log, noise
// to a person at a terminal, who knows the commands and not the packages.
var internalPrefix = regexp.MustCompile(`(^|: )(?:auth|bus|client|fanout|gateway|history|ingest|keycmd|lease|loadgen|protocol|server|subject|upstream|venue|evm): `)

// present returns err's text for a person: on one line and without internal
// package names.
func present(err error) string {
	msg := err.Error()
	for {
		next := internalPrefix.ReplaceAllString(msg, "$1")
		if next == msg {
			break
		}
		msg = next
	}
	return strings.Join(strings.Fields(msg), " ")
}
