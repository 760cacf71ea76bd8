package protocol

import (
	"encoding/json"
	"net/http"
)

// HTTPError is the JSON body of every error the hub answers over plain
// HTTP (the token and publish API, a refused WebSocket upgrade):
// {"code":"…","message":"…"}, with the codes of "error" frames.
type HTTPError struct {
	Code    ErrorCode `json:"code"`
	Message string    `json:"message"`
}

// CodeForHTTPStatus returns the error code an HTTP status means when
// nothing more precise is known: 400 and 413 bad_request, 401
// auth_required, 403 forbidden, 429 rate_limited, anything else internal.
func CodeForHTTPStatus(status int) ErrorCode {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return CodeBadRequest
	case http.StatusUnauthorized:
		return CodeAuthRequired
	case http.StatusForbidden:
		return CodeForbidden
	case http.StatusTooManyRequests:
		return CodeRateLimited
	}
	return CodeInternal
}

// WriteHTTPError answers with status and an HTTPError body. message is
// sent as is: it must not contain secrets.
func WriteHTTPError(w http.ResponseWriter, status int, code ErrorCode, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(HTTPError{Code: code, Message: message}) // an error means the client went away
}
