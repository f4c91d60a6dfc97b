package alertfilter

import (
	"strconv"
	"strings"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/sensor/condition"
)

// Condition is an output's condition: the rules' condition language over an
// alert's fields. The nil *Condition matches all.
type Condition struct{ c *condition.Condition }

// CompileCondition compiles text over the alert's fields: rule, priority
// (Falco's spelling, "Warning"), source, hostname, output, sensor_id,
// cluster_name, tags (a list: tags in (a, b) holds when the alert has any
// of them) and every output field by its name as the rule wrote it
// (k8s.ns.name, proc.aname[2]), typed as the sensor's field of that name
// (any other name is a string). Errors are *condition.Error, located.
func CompileCondition(text string) (*Condition, error) {
	c, err := condition.Compile(text, alertSchema{})
	if err != nil {
		return nil, err
	}
	return &Condition{c: c}, nil
}

// Match reports whether a satisfies the condition.
func (c *Condition) Match(a *harrierv1.Alert) bool {
	if c == nil {
		return true
	}
	return c.c.Match(a)
}

// String is the condition as written ("" for nil).
func (c *Condition) String() string {
	if c == nil {
		return ""
	}
	return c.c.String()
}

type alertSchema struct{}

func str(get func(a *harrierv1.Alert) string) condition.Field {
	return condition.Field{Kind: condition.String, Get: func(ev any, v condition.Value) bool {
		s := get(ev.(*harrierv1.Alert))
		v.SetString(s)
		return s != ""
	}}
}

var alertFields = map[string]condition.Field{
	"rule":         str((*harrierv1.Alert).GetRule),
	"priority":     str(func(a *harrierv1.Alert) string { return a.GetPriority().FalcoName() }),
	"source":       str((*harrierv1.Alert).GetSource),
	"hostname":     str((*harrierv1.Alert).GetHostname),
	"output":       str((*harrierv1.Alert).GetOutput),
	"sensor_id":    str((*harrierv1.Alert).GetSensorId),
	"cluster_name": str((*harrierv1.Alert).GetClusterName),
	"tags": {Kind: condition.Strings, AnyOf: true, Get: func(ev any, v condition.Value) bool {
		v.SetStrings(ev.(*harrierv1.Alert).GetTags())
		return true
	}},
}

func (alertSchema) Bare(name string) bool { _, ok := alertFields[name]; return ok }

func (alertSchema) Field(name, arg string, hasArg bool) (condition.Field, bool) {
	if f, ok := alertFields[name]; ok {
		return f, !hasArg
	}
	if !strings.Contains(name, ".") {
		return condition.Field{}, false
	}
	key := name
	if hasArg {
		key = name + "[" + arg + "]"
	}
	kind := condition.String
	if k, ok := condition.KnownField(name); ok {
		kind = k.Kind
		if hasArg && kind == condition.Strings {
			kind = condition.String // proc.aname[2]: one ancestor
		}
	}
	return condition.Field{Kind: kind, Get: outputField(key, kind)}, true
}

// outputField reads one output field, converting between the JSON-ish
// kinds an alert carries and the kind the condition compares (a Falco
// alert posted over HTTP may carry numbers as strings).
func outputField(key string, kind condition.Kind) func(ev any, v condition.Value) bool {
	return func(ev any, v condition.Value) bool {
		fv, ok := ev.(*harrierv1.Alert).GetOutputFields()[key]
		if !ok || fv == nil {
			return false
		}
		switch x := fv.GetKind().(type) {
		case *harrierv1.FieldValue_StringValue:
			s := x.StringValue
			switch kind {
			case condition.String:
				v.SetString(s)
			case condition.Strings:
				v.SetStrings([]string{s})
			case condition.Int:
				n, err := strconv.ParseInt(s, 10, 64)
				v.SetInt(n)
				return err == nil
			case condition.Uint:
				n, err := strconv.ParseUint(s, 10, 64)
				v.SetUint(n)
				return err == nil
			case condition.Bool:
				b, err := strconv.ParseBool(s)
				v.SetBool(b)
				return err == nil
			}
			return true
		case *harrierv1.FieldValue_IntValue:
			return setNumber(v, kind, x.IntValue, uint64(x.IntValue), x.IntValue >= 0)
		case *harrierv1.FieldValue_UintValue:
			return setNumber(v, kind, int64(x.UintValue), x.UintValue, true)
		case *harrierv1.FieldValue_BoolValue:
			switch kind {
			case condition.Bool:
				v.SetBool(x.BoolValue)
			case condition.String:
				v.SetString(strconv.FormatBool(x.BoolValue))
			default:
				return false
			}
			return true
		case *harrierv1.FieldValue_StringList:
			vals := x.StringList.GetValues()
			switch kind {
			case condition.Strings:
				v.SetStrings(vals)
			case condition.String:
				v.SetString("(" + strings.Join(vals, ",") + ")") // Falco's rendering of a list
			default:
				return false
			}
			return true
		}
		return false // null: the field had no value
	}
}

func setNumber(v condition.Value, kind condition.Kind, i int64, u uint64, nonNeg bool) bool {
	switch kind {
	case condition.Int:
		v.SetInt(i)
	case condition.Uint:
		if !nonNeg {
			return false
		}
		v.SetUint(u)
	case condition.String:
		if nonNeg {
			v.SetString(strconv.FormatUint(u, 10))
		} else {
			v.SetString(strconv.FormatInt(i, 10))
		}
	default:
		return false
	}
	return true
}
