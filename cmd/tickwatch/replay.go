package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
)

func addReplay(app *kingpin.Application) (*kingpin.CmdClause, action) {
	cmd := app.Command("replay", "(not yet available)")
	return cmd, func(context.Context, *slog.Logger) error { return errors.New("not yet available") }
}
