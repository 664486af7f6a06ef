package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"
)

func addVersion(app *kingpin.Application) (*kingpin.CmdClause, action) {
	cmd := app.Command("version", "Print version, commit and Go version.")
	return cmd, func(context.Context, *slog.Logger) error {
		fmt.Println(version.Print("tickwatch"))
		return nil
	}
}
