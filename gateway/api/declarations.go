package api

import (
	"net/http"

	"github.com/clearway/clearway/customs/errs"
	"github.com/labstack/echo/v4"
)

func (s *Server) getDeclaration(c echo.Context) error {
	r, err := s.store.Get(c.Request().Context(), scopeOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

func (s *Server) findDeclarations(c echo.Context) error {
	ln := c.QueryParam("logisticsNo")
	if ln == "" || len(ln) > 32 {
		return &errs.Error{Kind: errs.Invalid, Code: "query_required", Detail: "give logisticsNo (at most 32 characters)",
			Fields: []errs.FieldError{{Path: "logisticsNo", Code: "required", Message: "logisticsNo is required"}}}
	}
	rs, err := s.store.ByLogisticsNo(c.Request().Context(), scopeOf(c), ln)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"declarations": rs})
}

func (s *Server) getMessages(c echo.Context) error {
	ms, err := s.store.Messages(c.Request().Context(), scopeOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"declarationId": c.Param("id"), "messages": ms})
}

func (s *Server) getManifest(c echo.Context) error {
	m, err := s.store.GetManifest(c.Request().Context(), scopeOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, m)
}
