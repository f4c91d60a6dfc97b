package output

import (
	"errors"
	"fmt"
	"testing"
)

func TestPermanent(t *testing.T) {
	base := errors.New("mapper_parsing_exception")
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"plain", base, false},
		{"marked", Permanent(base), true},
		{"wrapped marked", fmt.Errorf("bulk: %w", Permanent(base)), true},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		if got := IsPermanent(tt.err); got != tt.want {
			t.Errorf("%s: IsPermanent = %v", tt.name, got)
		}
	}
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) should be nil")
	}
	if !errors.Is(Permanent(base), base) {
		t.Error("Permanent must unwrap to its cause")
	}
	pe := &PartialError{Items: []ItemError{{Index: 3, Err: Permanent(base)}}}
	var target *PartialError
	if !errors.As(fmt.Errorf("x: %w", pe), &target) || target.Items[0].Index != 3 || !IsPermanent(target.Items[0].Err) {
		t.Error("PartialError lost through wrapping")
	}
}
