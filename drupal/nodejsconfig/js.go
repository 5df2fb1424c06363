package nodejsconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"
)

// jsFunction marks, in the decoded settings tree, a property whose value was a
// JavaScript function. JSON.stringify drops such properties silently; keeping a
// marker lets the loader report them (socketOptions.origins may legitimately be
// a callback in socket.io 2.x, which socketd cannot run).
type jsFunction struct{}

// maxCallStack bounds recursion in a config file so runaway recursion fails
// fast instead of growing the Go heap until the timeout fires.
const maxCallStack = 1024

// evalJS runs a nodejs.config.js the way drupal-node.js does
// (vm.runInThisContext, spec §1) and returns the `settings` value as a decoded
// JSON tree (map[string]any with json.Number numbers).
//
// The script sees a global `process.env` built from environ (KEY=value
// strings) and a silent `console`; there is no `require`, `module` or
// `__dirname`, exactly as in the reference, where the config runs in the
// global context and not as a module. Evaluation is interrupted after timeout
// so an endless loop in a config cannot hang startup.
func evalJS(name string, src []byte, environ []string, timeout time.Duration) (map[string]any, error) {
	ast, err := parser.ParseFile(nil, name, string(src), 0)
	if err != nil {
		return nil, jsSyntaxError(err)
	}
	prog, err := goja.CompileAST(ast, false)
	if err != nil {
		return nil, jsSyntaxError(err)
	}

	vm := goja.New()
	vm.SetMaxCallStackSize(maxCallStack)
	if err := installJSGlobals(vm, environ); err != nil {
		return nil, err
	}

	timer := time.AfterFunc(timeout, func() { vm.Interrupt(ErrEvalTimeout) })
	defer timer.Stop()

	completion, err := vm.RunProgram(prog)
	if err != nil {
		return nil, jsScriptError(err, timeout)
	}
	settings, err := settingsValue(vm, completion)
	if err != nil {
		return nil, jsScriptError(err, timeout)
	}
	if settings == nil {
		return nil, fmt.Errorf("%w: settings is not defined; the file must assign settings = {...}", ErrNoSettings)
	}
	if _, ok := goja.AssertFunction(settings); ok {
		return nil, fmt.Errorf("%w: settings is a function, want an object", ErrNoSettings)
	}
	obj, ok := settings.(*goja.Object)
	if !ok || obj.ClassName() == "Array" {
		return nil, fmt.Errorf("%w: settings is %s, want an object", ErrNoSettings, describeJS(settings))
	}

	stringify, _ := goja.AssertFunction(vm.Get("JSON").ToObject(vm).Get("stringify"))
	out, err := stringify(goja.Undefined(), obj)
	if err != nil {
		return nil, jsScriptError(err, timeout)
	}
	var tree map[string]any
	dec := json.NewDecoder(strings.NewReader(out.String()))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("settings cannot be converted to JSON: %w", err)
	}
	markFunctions(obj, tree, 2)
	return tree, nil
}

// installJSGlobals gives the script the Node globals a config file plausibly
// touches: process.env (real values, so `process.env.NODE_PORT || 8080`
// works) and console (discarded: startup output belongs to socketd's logger).
func installJSGlobals(vm *goja.Runtime, environ []string) error {
	env := vm.NewObject()
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		if err := env.Set(k, v); err != nil {
			return err
		}
	}
	process := vm.NewObject()
	if err := process.Set("env", env); err != nil {
		return err
	}
	console := vm.NewObject()
	for _, m := range []string{"log", "info", "warn", "error", "debug"} {
		if err := console.Set(m, func(goja.FunctionCall) goja.Value { return goja.Undefined() }); err != nil {
			return err
		}
	}
	if err := vm.Set("process", process); err != nil {
		return err
	}
	return vm.Set("console", console)
}

// settingsValue picks the configuration object: the global binding `settings`
// (covers `settings = …`, `var settings = …` and even `const settings = …`,
// which lives in the global lexical scope and is not a property of the global
// object), else the script's completion value when it is an object. The
// reference takes only the completion value, which is why `var settings = …`
// (completion undefined) fails on 1.0.13 but worked on the D7 server.js that
// read the global; socketd accepts both. It returns nil when neither exists.
func settingsValue(vm *goja.Runtime, completion goja.Value) (goja.Value, error) {
	v, err := vm.RunString("typeof settings === 'undefined' ? undefined : settings")
	if err != nil {
		return nil, err
	}
	if !goja.IsUndefined(v) && !goja.IsNull(v) {
		return v, nil
	}
	if obj, ok := completion.(*goja.Object); ok && obj.ClassName() == "Object" {
		return obj, nil
	}
	return nil, nil
}

// markFunctions puts a jsFunction marker in tree for every own property of
// obj whose value is a function, descending depth levels (top level, then
// backend and socketOptions). Deeper functions are dropped silently, as
// JSON.stringify does; nothing socketd reads lives deeper.
func markFunctions(obj *goja.Object, tree map[string]any, depth int) {
	if depth == 0 {
		return
	}
	for _, k := range obj.Keys() {
		v := obj.Get(k)
		if _, ok := goja.AssertFunction(v); ok {
			tree[k] = jsFunction{}
			continue
		}
		child, ok := v.(*goja.Object)
		sub, isMap := tree[k].(map[string]any)
		if ok && isMap {
			markFunctions(child, sub, depth-1)
		}
	}
}

// describeJS names the type of a JavaScript value for an error message.
func describeJS(v goja.Value) string {
	if obj, ok := v.(*goja.Object); ok && obj.ClassName() == "Array" {
		return "an array"
	}
	switch v.Export().(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}

// jsSyntaxError rewrites a parse failure as "line L, column C: message" for the
// first problem; goja's own text repeats the file name and counts follow-on
// errors, which only distract.
func jsSyntaxError(err error) error {
	var list parser.ErrorList
	if errors.As(err, &list) && len(list) > 0 {
		p := list[0].Position
		return fmt.Errorf("JavaScript syntax error at line %d, column %d: %s", p.Line, p.Column, list[0].Message)
	}
	var cse *goja.CompilerSyntaxError
	if errors.As(err, &cse) && cse.File != nil {
		p := cse.File.Position(cse.Offset)
		return fmt.Errorf("JavaScript syntax error at line %d, column %d: %s", p.Line, p.Column, cse.Message)
	}
	return fmt.Errorf("JavaScript syntax error: %w", err)
}

// jsScriptError turns an exception thrown while evaluating the config into one
// line with its position, and adds a hint for the failures operators meet:
// require() (not available in the reference either) and the timeout.
func jsScriptError(err error, timeout time.Duration) error {
	var intr *goja.InterruptedError
	if errors.As(err, &intr) {
		return fmt.Errorf("%w: evaluation did not finish within %v (endless loop?)", ErrEvalTimeout, timeout)
	}
	var so *goja.StackOverflowError
	if errors.As(err, &so) {
		return fmt.Errorf("JavaScript error: stack overflow (endless recursion?)")
	}
	var exc *goja.Exception
	if !errors.As(err, &exc) {
		return fmt.Errorf("JavaScript error: %w", err)
	}
	msg := exc.Value().String()
	where := ""
	for _, f := range exc.Stack() {
		if p := f.Position(); p.Line > 0 {
			where = fmt.Sprintf(" at line %d, column %d", p.Line, p.Column)
			break
		}
	}
	hint := ""
	switch {
	case strings.Contains(msg, "require is not defined"):
		hint = " (require() is not available: the file is evaluated as a plain script, as drupal-node.js's vm.runInThisContext did; inline the values or read them from process.env)"
	case strings.Contains(msg, "module is not defined") || strings.Contains(msg, "exports is not defined"):
		hint = " (the file must assign settings = {...}, not module.exports)"
	}
	return fmt.Errorf("JavaScript error%s: %s%s", where, msg, hint)
}
