package main

import (
	"context"
	"fmt"
	"time"

	"github.com/trunkline/trunkline/pipeline"
)

var grantUsage = usage{
	synopsis: "trunkline grant verify [--key-env VAR] TOKEN",
	about: `Grant tools. Subcommands:

  verify   checks a grant token offline (see 'trunkline grant verify --help')`,
	examples: `  trunkline grant verify "$TOKEN"`,
}

var grantVerifyUsage = usage{
	synopsis: "trunkline grant verify [--key-env VAR] TOKEN",
	about: `Checks a grant token of an unlock_eligible event offline, as the carmaker's
unlock service does: the HMAC-SHA256 signature under the key, and that the
current time lies between not_before and expires_at.

Exit status 0 when the token is valid (its claims are printed, the token is
not), 1 when it is invalid (the reason is printed), 2 on a bad command line
or when the key variable is not set.

The key is read from the environment variable VAR, never from the command
line. Put -- before a token that starts with a dash.`,
	examples: `  TRUNKLINE_GRANT_KEY=... trunkline grant verify "$TOKEN"
  trunkline grant verify --key-env UNLOCK_KEY -- "$TOKEN"`,
}

func runGrant(_ context.Context, e *env, args []string) int {
	fs := newFlagSet("grant")
	if done, code := parseFlags(e, fs, grantUsage, args); done {
		return code
	}
	if fs.NArg() == 0 {
		return usageError(e, fs, grantUsage, "missing subcommand")
	}
	switch fs.Arg(0) {
	case "verify":
		return runGrantVerify(e, fs.Args()[1:])
	}
	return usageError(e, fs, grantUsage, "unknown subcommand %q", fs.Arg(0))
}

func runGrantVerify(e *env, args []string) int {
	fs := newFlagSet("grant verify")
	keyEnv := fs.String("key-env", envGrantKey, "environment `VAR` holding the signing key")
	if done, code := parseFlags(e, fs, grantVerifyUsage, args); done {
		return code
	}
	if fs.NArg() == 0 {
		return usageError(e, fs, grantVerifyUsage, "missing TOKEN")
	}
	token := fs.Arg(0)
	// Flags may also follow the token.
	if done, code := parseFlags(e, fs, grantVerifyUsage, fs.Args()[1:]); done {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(e, fs, grantVerifyUsage, "unexpected argument after TOKEN")
	}
	key := e.getenv(*keyEnv)
	if key == "" {
		fmt.Fprintf(e.stderr, "trunkline grant verify: %s is not set: export the grant signing key in it\n", *keyEnv)
		return exitUsage
	}
	c, err := pipeline.VerifyGrant([]byte(key), token, e.now().UnixMilli())
	if err != nil {
		fmt.Fprintf(e.stdout, "invalid: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(e.stdout, "valid\n")
	printClaims(e, c)
	return exitOK
}

// printClaims prints what a valid token grants, without the token.
func printClaims(e *env, c pipeline.GrantClaims) {
	ms := func(v int64) string { return time.UnixMilli(v).UTC().Format(time.RFC3339Nano) }
	fmt.Fprintf(e.stdout, "grant_id:   %s\n", c.GrantID)
	fmt.Fprintf(e.stdout, "window_id:  %s\n", c.WindowID)
	fmt.Fprintf(e.stdout, "vin:        %s\n", c.VIN)
	fmt.Fprintf(e.stdout, "courier_id: %s\n", c.CourierID)
	fmt.Fprintf(e.stdout, "not_before: %s\n", ms(c.NotBefore))
	fmt.Fprintf(e.stdout, "expires_at: %s\n", ms(c.ExpiresAt))
}
