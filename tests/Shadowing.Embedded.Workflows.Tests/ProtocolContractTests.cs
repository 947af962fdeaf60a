using System.Reflection;
using System.Xml.Linq;
using Dapr.DurableTask.Protobuf;
using Shadowing.TestUtilities.Data;

namespace Shadowing.Embedded.Workflows.Tests;

/// <summary>
/// The backend implements the durable-task protocol of one Dapr.Workflow version. An SDK upgrade that changes the
/// protocol must fail here, loudly, rather than at run time.
/// </summary>
public sealed class ProtocolContractTests
{
    /// <summary>The version the backend was written and tested against.</summary>
    private const string SupportedVersion = "1.19.0";

    /// <summary>Every RPC of TaskHubSidecarService in that version, with its message types.</summary>
    private static readonly (string Rpc, string Request, string Response, bool Streaming)[] Service =
    [
        ("Hello", "google.protobuf.Empty", "google.protobuf.Empty", false),
        ("StartInstance", "CreateInstanceRequest", "CreateInstanceResponse", false),
        ("GetInstance", "GetInstanceRequest", "GetInstanceResponse", false),
        ("WaitForInstanceStart", "GetInstanceRequest", "GetInstanceResponse", false),
        ("WaitForInstanceCompletion", "GetInstanceRequest", "GetInstanceResponse", false),
        ("RaiseEvent", "RaiseEventRequest", "RaiseEventResponse", false),
        ("TerminateInstance", "TerminateRequest", "TerminateResponse", false),
        ("SuspendInstance", "SuspendRequest", "SuspendResponse", false),
        ("ResumeInstance", "ResumeRequest", "ResumeResponse", false),
        ("PurgeInstances", "PurgeInstancesRequest", "PurgeInstancesResponse", false),
        ("GetWorkItems", "GetWorkItemsRequest", "WorkItem", true),
        ("CompleteActivityTask", "ActivityResponse", "CompleteTaskResponse", false),
        ("CompleteOrchestratorTask", "WorkflowResponse", "CompleteTaskResponse", false),
        ("CompleteWorkflowTask", "WorkflowResponse", "CompleteTaskResponse", false),
        ("RerunWorkflowFromEvent", "RerunWorkflowFromEventRequest", "RerunWorkflowFromEventResponse", false),
        ("ListInstanceIDs", "ListInstanceIDsRequest", "ListInstanceIDsResponse", false),
        ("GetInstanceHistory", "GetInstanceHistoryRequest", "GetInstanceHistoryResponse", false),
    ];

    [Fact]
    public void DaprWorkflowPackage_IsTheSupportedVersion_InPropsAndAtRunTime()
    {
        var props = XDocument.Load(Path.Combine(RepositoryFiles.Root, "Directory.Packages.props"));
        var pinned = props.Descendants("DaprVersion").Single().Value;
        var loaded = typeof(TaskHubSidecarService).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];

        Assert.Equal(SupportedVersion, pinned);
        Assert.Equal(SupportedVersion, loaded);
    }

    [Fact]
    public void TaskHubSidecarService_HasExactlyTheRpcsTheBackendWasWrittenFor()
    {
        var methods = TaskHubSidecarService.Descriptor.Methods
            .Select(m => (m.Name, m.InputType.FullName, m.OutputType.FullName, m.IsServerStreaming))
            .ToArray();

        Assert.Equal("TaskHubSidecarService", TaskHubSidecarService.Descriptor.FullName);
        Assert.Equal(Service.OrderBy(s => s.Rpc, StringComparer.Ordinal), methods.OrderBy(m => m.Name, StringComparer.Ordinal));
    }

    [Fact]
    public void Backend_BindsEveryRpcButRerun_AndEachBindingMatchesTheDescriptor()
    {
        Assert.Equal(Service.Select(s => s.Rpc).Where(r => r != "RerunWorkflowFromEvent").Order(StringComparer.Ordinal), TaskHubSidecar.Bound.Order(StringComparer.Ordinal));
        foreach (var rpc in TaskHubSidecar.Bound)
        {
            var method = typeof(TaskHubSidecar).GetMethod(rpc)!;
            var descriptor = TaskHubSidecarService.Descriptor.FindMethodByName(rpc);
            Assert.True(method.IsVirtual, $"{rpc} is virtual (Grpc.AspNetCore binds only virtual methods)");
            Assert.Equal(descriptor.InputType.ClrType, method.GetParameters()[0].ParameterType);
        }
    }

    [Fact]
    public void HistoryEventAndActionCases_AreTheOnesTheEngineHandles()
    {
        // A new event or action kind needs a decision in WorkflowEngine before the upgrade.
        var events = Enum.GetNames<HistoryEvent.EventTypeOneofCase>().Order(StringComparer.Ordinal);
        var actions = Enum.GetNames<WorkflowAction.WorkflowActionTypeOneofCase>().Order(StringComparer.Ordinal);

        Assert.Equal(
            ["ChildWorkflowInstanceCompleted", "ChildWorkflowInstanceCreated", "ChildWorkflowInstanceFailed", "ContinueAsNew", "DetachedWorkflowInstanceCreated", "EventRaised", "EventSent", "ExecutionCompleted", "ExecutionResumed", "ExecutionStalled", "ExecutionStarted", "ExecutionSuspended", "ExecutionTerminated", "None", "TaskCompleted", "TaskFailed", "TaskScheduled", "TimerCreated", "TimerFired", "WorkflowCompleted", "WorkflowStarted"],
            events);
        Assert.Equal(
            ["CompleteWorkflow", "CreateChildWorkflow", "CreateDetachedWorkflow", "CreateTimer", "None", "ScheduleTask", "SendEvent", "TerminateWorkflow", "WorkflowVersionNotAvailable"],
            actions);
    }
}
