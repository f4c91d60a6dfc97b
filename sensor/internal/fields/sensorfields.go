package fields

import (
	"fmt"
	"sync/atomic"
)

// ClusterNameField names the cluster the sensor runs in (its cluster_name
// setting) in every source, for rules and outputs:
// harrier.cluster_name = prod-eu, %harrier.cluster_name.
const ClusterNameField = "harrier.cluster_name"

var clusterName atomic.Pointer[string]

// SetClusterName sets the value of harrier.cluster_name; the sensor calls
// it once its configuration is read ("": the field has no value).
func SetClusterName(name string) { clusterName.Store(&name) }

// SensorDefs are the fields every source has that describe the sensor
// rather than the event.
func SensorDefs() []Def {
	ex := func(_ Event, out *Value) bool {
		p := clusterName.Load()
		if p == nil || *p == "" {
			return false
		}
		out.Kind, out.Str = KindString, *p
		return true
	}
	return []Def{{Name: ClusterNameField, Kind: KindString,
		Desc: "the cluster the sensor runs in (cluster_name setting)",
		Bind: func(arg string) (Extract, error) {
			if arg != "" {
				return nil, fmt.Errorf("field takes no argument (got %q)", arg)
			}
			return ex, nil
		}}}
}
