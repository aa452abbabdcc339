// Package dashboard serves the airport cargo desk's web dashboard: one
// static page that reads the statistics and flight-readiness API with the
// desk's own API key. The page holds no data and needs no key; every figure
// it shows comes from /v1 with the key the user types in.
package dashboard

import (
	"embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

//go:embed assets/*
var assets embed.FS

// contentTypes lists the files served under /dashboard/: anything not
// named here is 404, so nothing else in the embedded tree leaks by accident.
var contentTypes = map[string]string{
	"app.js":    "text/javascript; charset=utf-8",
	"style.css": "text/css; charset=utf-8",
}

// contentSecurityPolicy allows only this origin's own files: no inline
// script or style, so markup injected through API data cannot run.
// img-src data: is for the browser's own rendering of form controls.
const contentSecurityPolicy = "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'"

// Register adds GET /dashboard (the page) and GET /dashboard/:asset (its
// script and style sheet) to e.
func Register(e *echo.Echo) {
	e.GET("/dashboard", func(c echo.Context) error {
		return serve(c, "index.html", "text/html; charset=utf-8")
	})
	e.GET("/dashboard/:asset", func(c echo.Context) error {
		name := c.Param("asset")
		contentType, ok := contentTypes[name]
		if !ok {
			return echo.ErrNotFound
		}
		return serve(c, name, contentType)
	})
}

func serve(c echo.Context, name, contentType string) error {
	body, err := assets.ReadFile("assets/" + name)
	if err != nil {
		return err // the file is embedded at build time: this is a broken build
	}
	h := c.Response().Header()
	// no-cache still lets the browser keep a copy, but it asks every time,
	// so a desk never runs yesterday's script against today's API.
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	return c.Blob(http.StatusOK, contentType, body)
}
