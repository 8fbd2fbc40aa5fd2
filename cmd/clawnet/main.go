// Command clawnet runs a ClawNet ledger (clawnet serve) and will grow the
// owner and agent client.
//
// Usage:
//
//	clawnet <command> [flags]
//	clawnet help
//
// Each command lives in its own file and adds itself to the command table
// with registerCommand from an init function, so adding a command touches
// no other file.
//
// Exit codes: 0 success, 1 the command failed, 2 usage error.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one clawnet subcommand.
type command struct {
	// name is the word after "clawnet".
	name string
	// summary is the one line shown by "clawnet help".
	summary string
	// run runs the command with the arguments after its name and returns
	// the process exit code. ctx is canceled on SIGINT or SIGTERM.
	run func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

// commands is the command table, filled by init functions before main runs
// and read-only afterwards.
var commands = map[string]command{}

// registerCommand adds c to the command table. It panics on a duplicate
// name: that is a programming error caught by any test run.
func registerCommand(c command) {
	if _, dup := commands[c.name]; dup {
		panic("clawnet: command " + c.name + " registered twice")
	}
	commands[c.name] = c
}

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: tests call it in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				return c.run(ctx, []string{"-h"}, stdin, stdout, stderr)
			}
		}
		usage(stderr)
		return exitUsage
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "clawnet: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
	return c.run(ctx, args[1:], stdin, stdout, stderr)
}

func usage(w io.Writer) {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: clawnet <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "  help       show this help, or a command's flags: clawnet help <command>")
}
