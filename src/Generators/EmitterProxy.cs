using System.Linq;
using ClusterSharing.Generators.Models;

namespace ClusterSharing.Generators;

/// <summary>The follower side: the proxy class implementing the interface.</summary>
internal static partial class Emitter
{
    private static void EmitProxy(SourceWriter w, ContractSpec contract)
    {
        string iface = contract.InterfaceType;
        string invoker = Proxies + "IClusterInvoker<" + iface + ">";
        w.Line("/// <summary>What followers (and the leader's own process) hold: every call goes through the invoker.</summary>");
        w.Open("private sealed class Proxy : " + iface);
        w.Line("private readonly " + invoker + " _invoker;");
        w.Line();
        w.Line("public Proxy(" + invoker + " invoker) => _invoker = invoker;");
        foreach (var m in contract.Members)
        {
            w.Line();
            if (m.Kind == MemberKind.Event) EmitProxyEvent(w, m);
            else EmitProxyMethod(w, contract, m);
        }
        w.Close();
    }

    private static void EmitProxyEvent(SourceWriter w, MemberSpec m)
    {
        var value = m.Value!;
        w.Open("event " + m.ReturnType + " " + m.DeclaringInterface + "." + m.Name);
        w.Line("add { if (value is not null) this._invoker.AddEventHandler<" + value.FormatterType + ">(" + MethodField(m) + ", this, value!, Formatters." + value.Formatter + "); }");
        w.Line("remove { if (value is not null) this._invoker.RemoveEventHandler<" + value.FormatterType + ">(" + MethodField(m) + ", value!); }");
        w.Close();
    }

    private static void EmitProxyMethod(SourceWriter w, ContractSpec contract, MemberSpec m)
    {
        string parameters = string.Join(", ", m.Parameters.Select(p => p.Type + " " + p.Name));
        w.Open(m.ReturnType + " " + m.DeclaringInterface + "." + m.Name + "(" + parameters + ")");
        string method = MethodField(m);
        string token = m.CancellationTokenName;
        string newArgs = "new " + ArgsName(m) + "(" + string.Join(", ", m.Parameters.Where(p => !p.IsCancellationToken).Select(p => p.Name + "!")) + ")";
        string argsFormatter = ArgsName(m) + "Formatter.Instance";
        switch (m.Kind)
        {
            case MemberKind.Invoke:
            {
                // The leader's own process calls the real client directly: no serialization, same cancellation token.
                w.Line("var __local = this._invoker.LocalTarget;");
                w.Line("if (__local is not null) return " + Target(contract, m, "__local") + "." + m.Name + "(" + string.Join(", ", m.Parameters.Select(p => p.Name)) + ");");
                string call = m.ResultFormatter is null
                    ? "this._invoker.InvokeAsync<" + ArgsName(m) + ">(" + method + ", " + newArgs + ", " + argsFormatter + ", " + token + ")"
                    : "this._invoker.InvokeAsync<" + ArgsName(m) + ", " + m.ResultFormatterType + ">(" + method + ", " + newArgs + ", " + argsFormatter + ", Formatters." + m.ResultFormatter + ", " + token + ")";
                w.Line("return " + call + (m.Shape is ReturnShape.Task or ReturnShape.TaskOfT ? ".AsTask()" : string.Empty) + (m.ResultFormatter is null ? string.Empty : "!") + ";");
                break;
            }
            case MemberKind.Oneway:
                w.Line("var __local = this._invoker.LocalTarget;");
                w.Open("if (__local is not null)");
                w.Line(Target(contract, m, "__local") + "." + m.Name + "(" + string.Join(", ", m.Parameters.Select(p => p.Name)) + ");");
                w.Line("return;");
                w.Close();
                w.Line("this._invoker.InvokeOneway<" + ArgsName(m) + ">(" + method + ", " + newArgs + ", " + argsFormatter + ");");
                break;
            case MemberKind.Publish:
                w.Line("this._invoker.Publish<" + ArgsName(m) + ">(" + method + ", " + newArgs + ", " + argsFormatter + ");");
                break;
            case MemberKind.SubscribeListener when m.Awaitable:
                w.Line("return this._invoker.SubscribeAsync<" + m.Registration!.FormatterType + ", " + m.Value!.FormatterType + ">(" + method + ", "
                    + m.Parameters[0].Name + "!, Formatters." + m.Registration.Formatter + ", " + m.Parameters[1].Name + "!, Formatters." + m.Value.Formatter + ", " + token + ")"
                    + (m.Shape == ReturnShape.Task ? ".AsTask()" : string.Empty) + ";");
                break;
            case MemberKind.SubscribeStream when m.Awaitable:
                w.Line("return this._invoker.SubscribeStreamAsync<" + m.Registration!.FormatterType + ", " + m.Value!.FormatterType + ">(" + method + ", "
                    + m.Parameters[0].Name + "!, Formatters." + m.Registration.Formatter + ", Formatters." + m.Value.Formatter + ", " + token + ")"
                    + (m.Shape == ReturnShape.TaskOfT ? ".AsTask()" : string.Empty) + "!;");
                break;
            case MemberKind.SubscribeListener:
                w.Line("this._invoker.Subscribe<" + m.Registration!.FormatterType + ", " + m.Value!.FormatterType + ">(" + method + ", "
                    + m.Parameters[0].Name + "!, Formatters." + m.Registration.Formatter + ", " + m.Parameters[1].Name + "!, Formatters." + m.Value.Formatter + ");");
                break;
            case MemberKind.Unsubscribe:
                w.Line("this._invoker.Unsubscribe<" + m.Registration!.FormatterType + ", " + m.Value!.FormatterType + ">(" + method + ", "
                    + m.Parameters[0].Name + "!, Formatters." + m.Registration.Formatter + ", " + m.Parameters[1].Name + "!);");
                break;
            case MemberKind.SubscribeStream:
                w.Line("return this._invoker.SubscribeStream<" + m.Registration!.FormatterType + ", " + m.Value!.FormatterType + ">(" + method + ", "
                    + m.Parameters[0].Name + "!, Formatters." + m.Registration.Formatter + ", Formatters." + m.Value.Formatter + ", " + token + ")!;");
                break;
            case MemberKind.Close:
                switch (m.Shape)
                {
                    case ReturnShape.ValueTask:
                        w.Line("return this._invoker.CloseAsync(" + method + ");");
                        break;
                    case ReturnShape.Task:
                        w.Line("return this._invoker.CloseAsync(" + method + ").AsTask();");
                        break;
                    default:
                        // A synchronous Close promises the handle is closed on return, so it waits; there is no async caller to return to.
                        w.Line("var __pending = this._invoker.CloseAsync(" + method + ");");
                        w.Line("if (!__pending.IsCompletedSuccessfully) __pending.AsTask().GetAwaiter().GetResult();");
                        break;
                }
                break;
        }
        w.Close();
    }
}
