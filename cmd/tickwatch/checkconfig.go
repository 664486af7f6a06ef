package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
)

func addCheckConfig(app *kingpin.Application) (*kingpin.CmdClause, action) {
	cmd := app.Command("check-config", "Validate a configuration file.")
	return cmd, func(context.Context, *slog.Logger) error { return errors.New("not yet available") }
}
