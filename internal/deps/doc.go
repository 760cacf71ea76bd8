// Package deps holds no code: its test checks that the packages depend on
// each other the way docs (ARCHITECTURE, the package table) say, so that
// the arrows keep pointing at the core.
package deps
