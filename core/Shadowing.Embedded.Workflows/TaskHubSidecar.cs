using Dapr.DurableTask.Protobuf;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace Shadowing.Embedded.Workflows;

/// <summary>
/// The sidecar's durable-task gRPC service (<c>TaskHubSidecarService</c>, no proto package) bound to the message
/// types of the Dapr.Workflow package the app uses: the package ships client stubs only, so every RPC is bound here by
/// name (Grpc.AspNetCore binds <c>public virtual</c> methods named after them). Each delegates to
/// <see cref="WorkflowEngine"/>. <c>RerunWorkflowFromEvent</c> is not bound and answers UNIMPLEMENTED.
/// </summary>
[BindServiceMethod(typeof(TaskHubSidecar), nameof(BindService))]
internal class TaskHubSidecar(WorkflowEngine engine)
{
    /// <summary>The RPCs bound here (the protocol contract test compares them with the package's service).</summary>
    public static IReadOnlyList<string> Bound { get; } =
    [
        "Hello", "StartInstance", "GetInstance", "WaitForInstanceStart", "WaitForInstanceCompletion", "RaiseEvent",
        "TerminateInstance", "SuspendInstance", "ResumeInstance", "PurgeInstances", "GetWorkItems", "CompleteActivityTask",
        "CompleteOrchestratorTask", "CompleteWorkflowTask", "ListInstanceIDs", "GetInstanceHistory",
    ];

    public static void BindService(ServiceBinderBase binder, TaskHubSidecar? service)
    {
        ArgumentNullException.ThrowIfNull(binder);
        Unary(binder, "Hello", Empty.Parser, Empty.Parser);
        Unary(binder, "StartInstance", CreateInstanceRequest.Parser, CreateInstanceResponse.Parser);
        Unary(binder, "GetInstance", GetInstanceRequest.Parser, GetInstanceResponse.Parser);
        Unary(binder, "WaitForInstanceStart", GetInstanceRequest.Parser, GetInstanceResponse.Parser);
        Unary(binder, "WaitForInstanceCompletion", GetInstanceRequest.Parser, GetInstanceResponse.Parser);
        Unary(binder, "RaiseEvent", RaiseEventRequest.Parser, RaiseEventResponse.Parser);
        Unary(binder, "TerminateInstance", TerminateRequest.Parser, TerminateResponse.Parser);
        Unary(binder, "SuspendInstance", SuspendRequest.Parser, SuspendResponse.Parser);
        Unary(binder, "ResumeInstance", ResumeRequest.Parser, ResumeResponse.Parser);
        Unary(binder, "PurgeInstances", PurgeInstancesRequest.Parser, PurgeInstancesResponse.Parser);
        Unary(binder, "CompleteActivityTask", ActivityResponse.Parser, CompleteTaskResponse.Parser);
        Unary(binder, "CompleteOrchestratorTask", WorkflowResponse.Parser, CompleteTaskResponse.Parser);
        Unary(binder, "CompleteWorkflowTask", WorkflowResponse.Parser, CompleteTaskResponse.Parser);
        Unary(binder, "ListInstanceIDs", ListInstanceIDsRequest.Parser, ListInstanceIDsResponse.Parser);
        Unary(binder, "GetInstanceHistory", GetInstanceHistoryRequest.Parser, GetInstanceHistoryResponse.Parser);
        binder.AddMethod(Method(MethodType.ServerStreaming, "GetWorkItems", GetWorkItemsRequest.Parser, WorkItem.Parser), (ServerStreamingServerMethod<GetWorkItemsRequest, WorkItem>)null!);
    }

    public virtual Task<Empty> Hello(Empty request, ServerCallContext context) => Task.FromResult(new Empty());

    public virtual Task<CreateInstanceResponse> StartInstance(CreateInstanceRequest request, ServerCallContext context) => engine.StartAsync(request);

    public virtual Task<GetInstanceResponse> GetInstance(GetInstanceRequest request, ServerCallContext context) => engine.GetAsync(request);

    public virtual Task<GetInstanceResponse> WaitForInstanceStart(GetInstanceRequest request, ServerCallContext context) =>
        engine.WaitAsync(request, completion: false, context?.CancellationToken ?? default);

    public virtual Task<GetInstanceResponse> WaitForInstanceCompletion(GetInstanceRequest request, ServerCallContext context) =>
        engine.WaitAsync(request, completion: true, context?.CancellationToken ?? default);

    public virtual Task<RaiseEventResponse> RaiseEvent(RaiseEventRequest request, ServerCallContext context) => engine.RaiseEventAsync(request);

    public virtual Task<TerminateResponse> TerminateInstance(TerminateRequest request, ServerCallContext context) => engine.TerminateAsync(request);

    public virtual Task<SuspendResponse> SuspendInstance(SuspendRequest request, ServerCallContext context) => engine.SuspendAsync(request);

    public virtual Task<ResumeResponse> ResumeInstance(ResumeRequest request, ServerCallContext context) => engine.ResumeAsync(request);

    public virtual Task<PurgeInstancesResponse> PurgeInstances(PurgeInstancesRequest request, ServerCallContext context) => engine.PurgeAsync(request);

    public virtual Task GetWorkItems(GetWorkItemsRequest request, IServerStreamWriter<WorkItem> responseStream, ServerCallContext context) =>
        engine.StreamWorkItemsAsync(responseStream, context?.CancellationToken ?? default);

    public virtual Task<CompleteTaskResponse> CompleteActivityTask(ActivityResponse request, ServerCallContext context) => engine.CompleteActivityAsync(request);

    /// <summary>The name the 1.19.0 worker completes turns with (deprecated in the proto).</summary>
    public virtual Task<CompleteTaskResponse> CompleteOrchestratorTask(WorkflowResponse request, ServerCallContext context) => engine.CompleteTurnAsync(request);

    public virtual Task<CompleteTaskResponse> CompleteWorkflowTask(WorkflowResponse request, ServerCallContext context) => engine.CompleteTurnAsync(request);

    public virtual Task<ListInstanceIDsResponse> ListInstanceIDs(ListInstanceIDsRequest request, ServerCallContext context) => engine.ListAsync(request);

    public virtual Task<GetInstanceHistoryResponse> GetInstanceHistory(GetInstanceHistoryRequest request, ServerCallContext context) => engine.HistoryAsync(request);

    private static void Unary<TRequest, TResponse>(ServiceBinderBase binder, string name, MessageParser<TRequest> request, MessageParser<TResponse> response)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        // Grpc.AspNetCore only reads the delegate's type; it finds the method to call by name on this class.
        binder.AddMethod(Method(MethodType.Unary, name, request, response), (UnaryServerMethod<TRequest, TResponse>)null!);
    }

    private static Method<TRequest, TResponse> Method<TRequest, TResponse>(MethodType type, string name, MessageParser<TRequest> request, MessageParser<TResponse> response)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse> =>
        new(type, TaskHubSidecarService.Descriptor.FullName, name, Marshallers.Create(m => m.ToByteArray(), request.ParseFrom), Marshallers.Create(m => m.ToByteArray(), response.ParseFrom));
}
