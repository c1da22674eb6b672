/**
 * The ovs-ofctl syntax layer: flow, action and group text in Open vSwitch's
 * grammar parsed into the models of src/openflow/, and printed back as
 * `ovs-ofctl dump-flows` / `dump-groups` print them.
 */
export { FlowSyntaxError } from "./errors.js";
export { parseFlow, parseFlows, type ParseFlowOptions } from "./parse-flow.js";
export { parseActions, type ParseActionsOptions } from "./parse-actions.js";
export { parseGroup, parseGroups, formatGroup, type ParseGroupOptions, type FormatGroupOptions } from "./parse-group.js";
export { formatFlow, type FormatFlowOptions } from "./format-flow.js";
export { formatActions, roundTrip, protocolVersion, type FormatActionsOptions, type OfProtocol } from "./format-actions.js";
