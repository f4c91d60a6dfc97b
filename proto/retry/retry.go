// Package retry is Harrier's one rule for whether a failed delivery over
// HTTP is worth sending again (transient) or never will be accepted
// (permanent). The router's HTTP outputs and the sensor's HTTP sink all
// decide with it, so a status means the same thing everywhere.
//
// The rule: the receiver being slow, overloaded, restarting, unreachable or
// misconfigured on the wire (timeouts, refused or reset connections, DNS,
// TLS) is transient: an operator or time fixes it and the alert then goes
// through. A 4xx answer other than 408, 425 and 429 is the receiver refusing
// this request, so resending the same bytes cannot help: permanent. So is a
// request the client refuses to send at all (bad scheme, header or method).
package retry

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// TransientStatus reports whether a non-2xx HTTP status is worth retrying:
// 408 Request Timeout, 425 Too Early, 429 Too Many Requests, every 5xx, and
// a missing status (0, e.g. a bulk item without one). 2xx are successes, not
// failures, and report false.
func TransientStatus(code int) bool {
	switch {
	case code == 408, code == 425, code == 429:
		return true
	case code >= 500, code < 100:
		return true
	}
	return false
}

// TransientError reports whether err, returned by an HTTP round trip (or a
// dial, read or write), is worth retrying. Only requests the client refused
// to send are permanent; every network, timeout, TLS and context error is
// transient, and so is anything unrecognised (holding an alert is
// recoverable, refusing it for good is not). nil reports false.
func TransientError(err error) bool {
	if err == nil {
		return false
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil && refusedByClient(ue.Err.Error()) {
		return false
	}
	return true
}

// The net/http client's own refusals, which it returns before sending
// anything; it exports no error values for them.
var clientRefusals = []string{
	"unsupported protocol scheme",
	"net/http: invalid header field",
	"net/http: invalid method",
	"net/http: nil Request",
	"http: no Host in request URL",
}

func refusedByClient(msg string) bool {
	for _, p := range clientRefusals {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// MaxAfter caps a receiver's Retry-After: a wrong or hostile value must not
// park a sender for hours.
const MaxAfter = time.Minute

// After is how long a receiver asked to wait before the next attempt
// (its Retry-After header, in seconds or as an HTTP date; RFC 9110 10.2.3),
// capped at MaxAfter. ok is false without a usable header.
func After(h http.Header, now time.Time) (d time.Duration, ok bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, int64(MaxAfter/time.Second))) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), MaxAfter), true
}
