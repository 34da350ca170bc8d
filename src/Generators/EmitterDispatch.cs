using System.Collections.Generic;
using System.Linq;
using ClusterSharing.Generators.Models;

namespace ClusterSharing.Generators;

/// <summary>The leader side: DispatchAsync, Subscribe and Unsubscribe.</summary>
internal static partial class Emitter
{
    private static string Call(ContractSpec contract, MemberSpec m, string target, string argumentsLocal, string cancellationToken)
    {
        var arguments = m.Parameters.Select(p => p.IsCancellationToken ? cancellationToken : argumentsLocal + "." + p.Name + "!");
        return Target(contract, m, target) + "." + m.Name + "(" + string.Join(", ", arguments) + ")";
    }

    private static void EmitDispatch(SourceWriter w, ContractSpec contract)
    {
        string iface = contract.InterfaceType;
        w.Line("/// <inheritdoc/>");
        w.Open("public override " + ValueTask + " DispatchAsync(" + iface + " target, " + ClusterMethod + " method, ref " + Reader
            + " arguments, " + Options + " options, " + Proxies + "IReplyWriter reply, " + CancellationToken + " cancellationToken)");
        w.Line("if (target is null) throw new global::System.ArgumentNullException(nameof(target));");
        w.Line("if (method is null) throw new global::System.ArgumentNullException(nameof(method));");
        w.Open("switch (method.Id)");
        foreach (var m in contract.Members)
        {
            if (!HasArguments(m)) continue;
            w.Open("case " + TypeNames.Hex(m.Id) + ": // " + m.DisplayName);
            w.Line("var args = " + ArgsName(m) + "Formatter.Instance.Deserialize(ref arguments, options);");
            switch (m.Kind)
            {
                case MemberKind.Invoke:
                    w.Line("return Invoke" + m.Index.ToString(System.Globalization.CultureInfo.InvariantCulture) + "Async(target, args, options, reply, cancellationToken);");
                    break;
                case MemberKind.Close when m.Shape != ReturnShape.Void:
                    // The real call's synchronous exceptions travel in the task, as an async method's would.
                    w.Open("try");
                    string call = Call(contract, m, "target", "args", "cancellationToken");
                    w.Line(m.Shape == ReturnShape.Task ? "return new " + ValueTask + "(" + call + ");" : "return " + call + ";");
                    w.Close();
                    w.Line("catch (global::System.Exception e) { return " + ValueTask + ".FromException(e); }");
                    break;
                default:
                    w.Open("try");
                    w.Line(Call(contract, m, "target", "args", "cancellationToken") + ";");
                    w.Close();
                    w.Line("catch (global::System.Exception e) { return " + ValueTask + ".FromException(e); }");
                    w.Line("return default;");
                    break;
            }
            w.Close();
        }
        w.Line("default:");
        w.Line("    throw new global::ClusterSharing.ClusterClientException(\"" + Escape(contract.ChannelName)
            + " has no call with id 0x\" + method.Id.ToString(\"x8\", global::System.Globalization.CultureInfo.InvariantCulture) + \" ('\" + method.Name + \"', \" + method.Kind + \"): leader and follower were built from different versions of the contract; deploy the same version to every process.\");");
        w.Close();
        w.Close();

        foreach (var m in contract.Members.Where(m => m.Kind == MemberKind.Invoke))
        {
            w.Line();
            w.Open("private static async " + ValueTask + " Invoke" + m.Index.ToString(System.Globalization.CultureInfo.InvariantCulture) + "Async(" + iface + " target, "
                + ArgsName(m) + " args, " + Options + " options, " + Proxies + "IReplyWriter reply, " + CancellationToken + " cancellationToken)");
            string call = Call(contract, m, "target", "args", "cancellationToken");
            if (m.ResultFormatter is null)
            {
                w.Line("await " + call + ".ConfigureAwait(false);");
                w.Line("reply.WriteVoid();");
            }
            else
            {
                w.Line("var result = await " + call + ".ConfigureAwait(false);");
                w.Line("reply.WriteResult<" + m.ResultFormatterType + ">(result!, Formatters." + m.ResultFormatter + ", options);");
            }
            w.Close();
        }
    }

    private static string Escape(string text) => TypeNames.Literal(text).Trim('"');

    private static void EmitSubscribe(SourceWriter w, ContractSpec contract)
    {
        string iface = contract.InterfaceType;
        w.Line("/// <inheritdoc/>");
        w.Open("public override object Subscribe(" + iface + " target, " + ClusterMethod + " method, ref " + Reader + " registration, " + Options + " options, " + Proxies + "ISubscriptionSink sink)");
        w.Line("if (target is null) throw new global::System.ArgumentNullException(nameof(target));");
        w.Line("if (method is null) throw new global::System.ArgumentNullException(nameof(method));");
        w.Line("if (sink is null) throw new global::System.ArgumentNullException(nameof(sink));");
        w.Open("switch (method.Id)");
        foreach (var m in contract.Members)
        {
            switch (m.Kind)
            {
                case MemberKind.SubscribeListener:
                {
                    var value = m.Value!;
                    w.Open("case " + TypeNames.Hex(m.Id) + ": // " + m.DisplayName);
                    w.Line("var reg = Formatters." + m.Registration!.Formatter + ".Deserialize(ref registration, options);");
                    w.Line("global::System.Action<" + value.FormatterType + "> listener = value => sink.OnValue<" + value.FormatterType + ">(value, Formatters." + value.Formatter + ", options);");
                    if (m.Awaitable)
                    {
                        // The leader counts the subscription as held once the real member's task completes.
                        string token = m.HasCancellationToken ? ", " + CancellationToken + ".None" : string.Empty;
                        w.Line("return new " + Proxies + "PendingSubscription(listener, " + Target(contract, m, "target") + "." + m.Name + "(reg!, listener!" + token + ")"
                            + (m.Shape == ReturnShape.ValueTask ? ".AsTask()" : string.Empty) + ");");
                    }
                    else
                    {
                        w.Line(Target(contract, m, "target") + "." + m.Name + "(reg!, listener!);");
                        w.Line("return listener;");
                    }
                    w.Close();
                    break;
                }
                case MemberKind.SubscribeStream:
                {
                    var value = m.Value!;
                    w.Open("case " + TypeNames.Hex(m.Id) + ": // " + m.DisplayName);
                    w.Line("var reg = Formatters." + m.Registration!.Formatter + ".Deserialize(ref registration, options);");
                    w.Line("var subscription = new StreamSubscription();");
                    string token = m.HasCancellationToken ? ", subscription.Token" : string.Empty;
                    if (m.Awaitable)
                    {
                        w.Line("return new " + Proxies + "PendingSubscription(subscription, subscription.StartAfter<" + value.FormatterType + ">(" + Target(contract, m, "target") + "." + m.Name + "(reg!" + token + ")"
                            + (m.Shape == ReturnShape.ValueTaskOfT ? ".AsTask()" : string.Empty) + "!, sink, Formatters." + value.Formatter + ", options));");
                        w.Close();
                        break;
                    }
                    w.Line("subscription.Start<" + value.FormatterType + ">(" + Target(contract, m, "target") + "." + m.Name + "(reg!" + token + ")!, sink, Formatters." + value.Formatter + ", options);");
                    w.Line("return subscription;");
                    w.Close();
                    break;
                }
                case MemberKind.Event:
                {
                    var value = m.Value!;
                    w.Open("case " + TypeNames.Hex(m.Id) + ": // event " + m.DisplayName);
                    w.Line("global::System.EventHandler<" + value.FormatterType + "> handler = (sender, value) => sink.OnValue<" + value.FormatterType + ">(value, Formatters." + value.Formatter + ", options);");
                    w.Line(Target(contract, m, "target") + "." + m.Name + " += handler!;");
                    w.Line("return handler;");
                    w.Close();
                    break;
                }
            }
        }
        w.Line("default:");
        w.Line("    throw new global::ClusterSharing.ClusterClientException(\"" + Escape(contract.ChannelName)
            + " has no subscription with id 0x\" + method.Id.ToString(\"x8\", global::System.Globalization.CultureInfo.InvariantCulture) + \" ('\" + method.Name + \"', \" + method.Kind + \"): leader and follower were built from different versions of the contract; deploy the same version to every process.\");");
        w.Close();
        w.Close();
    }

    private static void EmitUnsubscribe(SourceWriter w, ContractSpec contract)
    {
        string iface = contract.InterfaceType;
        w.Line("/// <inheritdoc/>");
        w.Open("public override bool Unsubscribe(" + iface + " target, " + ClusterMethod + " subscribeMethod, " + ClusterMethod
            + "? unsubscribeMethod, ref " + Reader + " registration, " + Options + " options, object token)");
        w.Line("if (target is null) throw new global::System.ArgumentNullException(nameof(target));");
        w.Line("if (subscribeMethod is null) throw new global::System.ArgumentNullException(nameof(subscribeMethod));");
        w.Open("switch (subscribeMethod.Id)");
        foreach (var m in contract.Members)
        {
            switch (m.Kind)
            {
                case MemberKind.SubscribeListener:
                {
                    w.Open("case " + TypeNames.Hex(m.Id) + ": // " + m.DisplayName);
                    w.Line("if (unsubscribeMethod is null || token is not global::System.Action<" + m.Value!.FormatterType + "> listener) return false;");
                    w.Open("switch (unsubscribeMethod.Id)");
                    foreach (var u in contract.Members.Where(u => u.Kind == MemberKind.Unsubscribe && u.PairedIndex == m.Index))
                    {
                        w.Open("case " + TypeNames.Hex(u.Id) + ": // " + u.DisplayName);
                        w.Line("var reg = Formatters." + u.Registration!.Formatter + ".Deserialize(ref registration, options);");
                        w.Line(Target(contract, u, "target") + "." + u.Name + "(reg!, listener!);");
                        w.Line("return true;");
                        w.Close();
                    }
                    w.Line("default:");
                    w.Line("    return false;");
                    w.Close();
                    w.Close();
                    break;
                }
                case MemberKind.SubscribeStream:
                    w.Open("case " + TypeNames.Hex(m.Id) + ": // " + m.DisplayName);
                    w.Line("if (token is not StreamSubscription subscription) return false;");
                    w.Line("subscription.Stop();");
                    w.Line("return true;");
                    w.Close();
                    break;
                case MemberKind.Event:
                    w.Open("case " + TypeNames.Hex(m.Id) + ": // event " + m.DisplayName);
                    w.Line("if (token is not global::System.EventHandler<" + m.Value!.FormatterType + "> handler) return false;");
                    w.Line(Target(contract, m, "target") + "." + m.Name + " -= handler!;");
                    w.Line("return true;");
                    w.Close();
                    break;
            }
        }
        w.Line("default:");
        w.Line("    return false;");
        w.Close();
        w.Close();
    }

    private static void EmitStreamSubscription(SourceWriter w, bool awaitable)
    {
        w.Line();
        w.Line("/// <summary>A running async-stream subscription on the leader; Stop ends it without reporting completion.</summary>");
        w.Open("private sealed class StreamSubscription");
        w.Line("private readonly global::System.Threading.CancellationTokenSource _cancellation = new();");
        w.Line();
        w.Line("public " + CancellationToken + " Token => _cancellation.Token;");
        w.Line();
        w.Line("public void Start<TValue>(global::System.Collections.Generic.IAsyncEnumerable<TValue> source, " + Proxies + "ISubscriptionSink sink, " + Formatter + "<TValue> formatter, " + Options + " options) =>");
        w.Line("    _ = PumpAsync(source, sink, formatter, options);");
        w.Line();
        if (awaitable)
        {
            w.Line("/// <summary>An awaitable stream member: pumps the stream once the real member's task has it; the leader awaits that task.</summary>");
            w.Open("public global::System.Threading.Tasks.Task StartAfter<TValue>(global::System.Threading.Tasks.Task<global::System.Collections.Generic.IAsyncEnumerable<TValue>> pending, " + Proxies + "ISubscriptionSink sink, " + Formatter + "<TValue> formatter, " + Options + " options)");
            w.Line("_ = PumpAfterAsync(pending, sink, formatter, options);");
            w.Line("return pending;");
            w.Close();
            w.Line();
            w.Open("private async global::System.Threading.Tasks.Task PumpAfterAsync<TValue>(global::System.Threading.Tasks.Task<global::System.Collections.Generic.IAsyncEnumerable<TValue>> pending, " + Proxies + "ISubscriptionSink sink, " + Formatter + "<TValue> formatter, " + Options + " options)");
            w.Line("global::System.Collections.Generic.IAsyncEnumerable<TValue> source;");
            // A failed real subscribe is reported by the leader through the task it awaits; nothing is pumped then.
            w.Line("try { source = await pending.ConfigureAwait(false); }");
            w.Line("catch (global::System.Exception) { return; }");
            w.Line("await PumpAsync(source, sink, formatter, options).ConfigureAwait(false);");
            w.Close();
            w.Line();
        }
        w.Open("public void Stop()");
        w.Line("try { _cancellation.Cancel(); }");
        w.Line("catch (global::System.ObjectDisposedException) { }");
        w.Close();
        w.Line();
        w.Open("private async global::System.Threading.Tasks.Task PumpAsync<TValue>(global::System.Collections.Generic.IAsyncEnumerable<TValue> source, " + Proxies + "ISubscriptionSink sink, " + Formatter + "<TValue> formatter, " + Options + " options)");
        w.Line("global::System.Exception? error = null;");
        w.Open("try");
        w.Open("await foreach (var value in global::System.Threading.Tasks.TaskAsyncEnumerableExtensions.WithCancellation(source, _cancellation.Token).ConfigureAwait(false))");
        w.Line("sink.OnValue(value, formatter, options);");
        w.Close();
        w.Close();
        w.Line("catch (global::System.Exception e) { error = e; }");
        // A stream stopped by Unsubscribe ends because the leader asked it to; nobody is left to tell.
        w.Line("if (_cancellation.IsCancellationRequested) return;");
        w.Line("sink.OnCompleted(error);");
        w.Close();
        w.Close();
    }
}
