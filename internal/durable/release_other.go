//go:build !linux

package durable

import (
	"errors"

	bolt "go.etcd.io/bbolt"
)

// Release does nothing here: the resident set it trims is Linux's measure.
func Release(*bolt.DB) error { return nil }

// MappedFiles is not measured here.
func MappedFiles() (int64, error) { return 0, errors.ErrUnsupported }

// Resident is not measured here.
func Resident(*bolt.DB) (int64, error) { return 0, errors.ErrUnsupported }
